"""Domain names as authentication compares them: normalised, organisational, aligned.

The organisational domain (RFC 7489 §3.2) comes from the Public Suffix List that the
`publicsuffixlist` package ships inside its wheel, so nothing is downloaded at run time.
`header_from_domains` reads the domains of the From header without ever raising.
"""

from __future__ import annotations

import email.utils
from functools import cache

from publicsuffixlist import PublicSuffixList

from mail.authentication.bridge import valid_dns_name
from mail.parse.headers import header_section


def normalise_domain(value: str) -> str:
    """Lower-case A-label form of `value`, or "" when it cannot be a mail domain."""
    text = value.strip().strip("<>[]").rstrip(".").lower()
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    return text if valid_dns_name(text) else ""


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """The registered domain under its public suffix: "factures.edf.fr" → "edf.fr"."""
    if not domain:
        return ""
    # A public suffix itself ("co.uk") has no registrant above it: it stands for itself.
    return _suffixes().privatesuffix(domain) or domain


def aligned(identifier: str, from_domain: str, *, strict: bool = False) -> bool:
    """RFC 7489 identifier alignment: equal (strict) or same organisation (relaxed)."""
    if not identifier or not from_domain:
        return False
    if strict:
        return identifier == from_domain
    return organisational_domain(identifier) == organisational_domain(from_domain)


def header_from_domains(raw: bytes) -> tuple[str, ...]:
    """The domain of every address in every From header, in order; "" for an unusable one.

    One entry is the normal case. Several From headers or authors are kept, each, because
    a reader's mail client may show any one of them.
    """
    try:
        headers = header_section(raw)
        values = [str(value) for value in headers.get_all("From", [])]
        addresses = email.utils.getaddresses(values)
    except Exception:
        return ()
    domains = []
    for _, address in addresses:
        if address:
            local, at, domain = address.rpartition("@")
            domains.append(normalise_domain(domain) if at and local else "")
    if values and not domains:
        # A From header whose address nobody could read still claims someone.
        return ("",)
    return tuple(domains)
