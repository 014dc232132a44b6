"""Sender authentication of inbound mail (SPF, DKIM, ARC, DMARC) as a trust signal.

`authenticate` computes it after the gateway has answered; `sender_trust` and
`looks_spoofed` judge it against the domains of known suppliers. DNS comes through a
`DnsResolver`: `DnspythonResolver` for the real one, `StaticResolver` offline.
"""

from __future__ import annotations

from mail.authentication.evaluation import DEFAULT_DNS_TIMEOUT, authenticate
from mail.authentication.resolver import (
    DnspythonResolver,
    DnsResolver,
    DnsTemporaryError,
    StaticResolver,
)
from mail.authentication.results import (
    ArcOutcome,
    AuthClaim,
    DkimSignature,
    DmarcOutcome,
    SenderAuth,
    SpfOutcome,
)
from mail.authentication.trust import (
    Trust,
    Voucher,
    claims_supplier,
    looks_spoofed,
    sender_trust,
    vouched_by,
)

__all__ = [
    "DEFAULT_DNS_TIMEOUT",
    "ArcOutcome",
    "AuthClaim",
    "DkimSignature",
    "DmarcOutcome",
    "DnsResolver",
    "DnsTemporaryError",
    "DnspythonResolver",
    "SenderAuth",
    "SpfOutcome",
    "StaticResolver",
    "Trust",
    "Voucher",
    "authenticate",
    "claims_supplier",
    "looks_spoofed",
    "sender_trust",
    "vouched_by",
]
