"""The mail route into Courier for suppliers, keyed by catalog key: ``mail_routes.json``.

A supplier Courier cannot log in to still reaches the inbox by mail. For each supplier
this data says what the catalog knows about that route:

- ``domains``: the mail domains its invoices come from. Catalog sync adds them to the
  supplier's row (core/services/catalog.py), so the mail pipeline names the supplier of
  mail from them, and the trust check asks them to vouch for it;
- ``setting``: where, in the supplier's own account, invoices are switched to arrive by
  email, in the words of its site ("Espace Client → ...");
- ``by_default``: its invoices or receipts are emailed without any setting.

Kept apart from ``entries.json`` because it is a different kind of knowledge (how mail
arrives, not how to log in), filled in only where it can be stated correctly. It is
checked on load like the catalog: a key the catalog does not hold or a malformed domain
fails loudly, naming the entry.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from publicsuffixlist import PublicSuffixList

from core.catalog.entries import CatalogDataError, is_domain, load_entries, read_catalog_json

_FIELDS = frozenset({"domains", "setting", "by_default"})
#: A setting is a path of menu labels, shown in a chat message: short, one line.
SETTING_MAX = 200
#: Domains anyone can send from: mailbox providers anyone can sign up to, and the mailing
#: and billing platforms that send for many companies at once. A supplier's domain vouches
#: for what it signs (core/services/provenance.py), and so does a parent of a listed one;
#: listing one of these, or a subdomain of one, would let each of their users sign "as"
#: the supplier. (ISPs' own domains, orange.fr or free.fr, are the catalog's already, in
#: entries.json, which this file does not change.)
PUBLIC_MAILBOXES = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.fr",
        "hotmail.com",
        "hotmail.fr",
        "live.com",
        "live.fr",
        "msn.com",
        "yahoo.com",
        "yahoo.fr",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.com",
        "gmx.fr",
        "gmx.de",
        "web.de",
        "proton.me",
        "protonmail.com",
        "laposte.net",
        "yandex.com",
        "mail.com",
        "zoho.com",
    }
)
SHARED_SENDERS = frozenset(
    {
        "amazonses.com",
        "sendgrid.net",
        "mailgun.org",
        "mailgun.net",
        "mandrillapp.com",
        "mcsv.net",
        "rsgsv.net",
        "sparkpostmail.com",
        "mktomail.com",
        "exacttarget.com",
        "sendinblue.com",
        "brevo.com",
        "mailjet.com",
        "postmarkapp.com",
        "mtasv.net",
        "stripe.com",
        "paddle.com",
        "chargebee.com",
        "zuora.com",
        "fastspring.com",
    }
)
_ANYONES = PUBLIC_MAILBOXES | SHARED_SENDERS


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@dataclass(frozen=True, slots=True)
class MailRoute:
    """How one supplier's invoices can reach Courier by mail."""

    key: str
    domains: tuple[str, ...] = ()
    #: Where invoices by email are switched on, in the supplier's own words; or None.
    setting: str | None = None
    #: Its invoices (or receipts) are emailed with no setting at all.
    by_default: bool = False


def load_mail_routes(
    path: Path | None = None, *, keys: Collection[str] | None = None
) -> Mapping[str, MailRoute]:
    """Load and validate the routes; defaults to the packaged ``mail_routes.json``, checked
    against the packaged catalog's keys (or ``keys``)."""
    raw, source = read_catalog_json("mail_routes.json", path)
    known = keys if keys is not None else {entry.key for entry in load_entries()}
    return parse_mail_routes(raw, keys=known, source=source)


@cache
def packaged_mail_routes() -> Mapping[str, MailRoute]:
    """The packaged routes, read once per process (the data never changes while running)."""
    return load_mail_routes()


def mail_route(key: str) -> MailRoute | None:
    """The packaged route of catalog entry ``key``, if the data knows one."""
    return packaged_mail_routes().get(key)


def parse_mail_routes(
    raw: object, *, keys: Collection[str], source: str = "mail routes"
) -> Mapping[str, MailRoute]:
    """Validate already-decoded JSON data (an object keyed by catalog key)."""
    if not isinstance(raw, dict):
        raise CatalogDataError(f"{source}: expected a JSON object keyed by catalog key")
    routes: dict[str, MailRoute] = {}
    for key, item in raw.items():
        if key not in keys:
            raise CatalogDataError(f"{source}: {key!r} is not a catalog key")
        routes[key] = _parse_route(key, item, f"{source}: {key!r}")
    return MappingProxyType(routes)


def _parse_route(key: str, item: object, label: str) -> MailRoute:
    if not isinstance(item, dict) or not item:
        raise CatalogDataError(f"{label}: expected a non-empty object")
    unknown = item.keys() - _FIELDS
    if unknown:
        raise CatalogDataError(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")
    domains = _domains(item.get("domains", []), label)
    setting = item.get("setting")
    if setting is not None and (
        not isinstance(setting, str)
        or not setting.strip()
        or len(setting) > SETTING_MAX
        or "\n" in setting
    ):
        raise CatalogDataError(
            f"{label}: setting must be one non-empty line of at most {SETTING_MAX} characters"
        )
    by_default = item.get("by_default", False)
    if not isinstance(by_default, bool):
        raise CatalogDataError(f"{label}: by_default must be true or false")
    if by_default and setting is not None:
        # Either the invoices come unasked or a setting sends them: saying both misleads.
        raise CatalogDataError(f"{label}: a route is either by_default or has a setting")
    return MailRoute(key=key, domains=domains, setting=setting, by_default=by_default)


def _domains(value: Any, label: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise CatalogDataError(f"{label}: domains must be a list of strings")
    if len(set(value)) != len(value):
        raise CatalogDataError(f"{label}: domains has duplicates")
    for domain in value:
        if not is_domain(domain):
            raise CatalogDataError(f"{label}: invalid domain {domain!r}")
        # "co.uk" would name every British sender; "x.github.io" is one owner's.
        registered = _suffixes().privatesuffix(domain)
        if registered is None:
            raise CatalogDataError(f"{label}: {domain!r} is a public suffix, not a domain")
        if registered in _ANYONES:
            raise CatalogDataError(
                f"{label}: {domain!r} is a public mailbox or a shared sender, anyone's domain"
            )
    return tuple(value)
