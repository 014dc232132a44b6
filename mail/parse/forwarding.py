"""Recognise a provider's "confirm this forwarding address" mail, and what confirms it.

When a user sets their mailbox to forward invoices to Courier, Gmail (and others) first
mail Courier a code and a link; Courier must hand one of them back to the user or
follow the link. These mails are recognised by their sender and subject, in English
and French, and never mistaken for a bank's "confirmation de transfert".
"""

from __future__ import annotations

import re
from typing import Literal

from mail.otp import find_code
from mail.parse.links import all_urls
from mail.parse.model import ForwardingConfirmation, ParsedMessage

_GMAIL_SENDER = "forwarding-noreply@google.com"
_GMAIL_CODE = re.compile(
    r"\(#(\d{5,12})\)|(?:confirmation code|code de confirmation)\s*:?\s*(\d{5,12})",
    re.IGNORECASE,
)
_GMAIL_LINK = re.compile(r"^https://mail(?:-settings)?\.google\.com/mail/", re.IGNORECASE)
_PROVIDER_DOMAINS: dict[str, Literal["microsoft", "yahoo"]] = {
    "microsoft.com": "microsoft",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "live.com": "microsoft",
    "office365.com": "microsoft",
    "microsoftonline.com": "microsoft",
    "yahoo.com": "yahoo",
    "yahoo-inc.com": "yahoo",
    "yahoo.fr": "yahoo",
}
# Mail forwarding, said plainly: "transfert" alone is also a bank transfer.
_FORWARDING = re.compile(
    r"\bforward(?:ing)?\b|redirection|transfert\s+(?:automatique|de\s+(?:vos\s+|ses\s+)?"
    r"(?:e-?mails?|messages?|courriers?))",
    re.IGNORECASE,
)
_LOOSE_FORWARDING = re.compile(r"\bforward|transf[eé]r|redirect", re.IGNORECASE)
_CONFIRMING = re.compile(r"confirm|verif|vérif|valid", re.IGNORECASE)
_CONFIRM_LINK = re.compile(r"confirm|verif|valid|vf-", re.IGNORECASE)
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def forwarding_confirmation(msg: ParsedMessage) -> ForwardingConfirmation | None:
    """Return the code and link that confirm a forwarding rule, or None for other mail."""
    if msg.from_address == _GMAIL_SENDER:
        return _gmail(msg)
    provider = _provider(msg.from_domain)
    wording = _LOOSE_FORWARDING if provider != "other" else _FORWARDING
    if not (wording.search(msg.subject) and _CONFIRMING.search(msg.subject)):
        return None
    code = find_code(msg.subject, msg.text)
    link = next((url for url in all_urls(msg.text, msg.html) if _CONFIRM_LINK.search(url)), None)
    if code is None and link is None:
        return None
    return ForwardingConfirmation(provider, code, link, _requested_by(msg))


def _gmail(msg: ParsedMessage) -> ForwardingConfirmation:
    code = None
    for match in _GMAIL_CODE.finditer(f"{msg.subject}\n{msg.text}"):
        code = match.group(1) or match.group(2)
        break
    links = [url for url in all_urls(msg.text, msg.html) if _GMAIL_LINK.match(url)]
    link = next((url for url in links if "/vf-" in url), links[0] if links else None)
    return ForwardingConfirmation("gmail", code, link, _requested_by(msg))


def _provider(domain: str) -> Literal["microsoft", "yahoo", "other"]:
    for known, provider in _PROVIDER_DOMAINS.items():
        if domain == known or domain.endswith(f".{known}"):
            return provider
    return "other"


def _requested_by(msg: ParsedMessage) -> str | None:
    """The mailbox asking to forward: named in the subject, else first in the text."""
    ours = {*msg.to, *msg.cc, msg.from_address}
    for source in (msg.subject, msg.text):
        for match in _ADDRESS.finditer(source):
            address = match.group(0).rstrip(".").lower()
            if address not in ours:
                return address
    return None
