"""SPF (RFC 7208) by pyspf, with its DNS answered by Courier's resolver.

pyspf is the reference implementation (it passes the RFC 7208 test suite: macros, exp=,
void-lookup and 10-lookup limits, redirect, include). All its DNS goes through one method,
`query.dns`; overriding that in a subclass gives it our resolver without touching its
module-wide DNS function, which would be shared by concurrent messages. It blocks, so it
runs in a worker thread and asks the event loop through `BlockingLookups`.

Two record kinds get no answer on purpose: type 99 "SPF" records (obsolete since RFC 7208)
and PTR. Without PTR the deprecated `ptr` mechanism never matches and `%{p}` expands to
"unknown": a record that needs them can lose a pass, never gain one.
"""

from __future__ import annotations

import ipaddress
import warnings
from typing import cast, get_args

from mail.authentication.bridge import BlockingLookups
from mail.authentication.domains import normalise_domain
from mail.authentication.resolver import DnsTemporaryError
from mail.authentication.results import SpfIdentity, SpfOutcome, SpfResult

with warnings.catch_warnings():
    # pyspf's source has invalid escape sequences. Compiled without a cached .pyc (an
    # installer that skips bytecode, a read-only site-packages), it warns on import, and
    # under `filterwarnings = error` that warning would be an import failure.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    import spf

_RESULTS = frozenset(get_args(SpfResult))


class _CourierQuery(spf.query):  # type: ignore[misc]  # pyspf ships no type information
    """pyspf's evaluator asking `BlockingLookups` instead of its own DNS module."""

    def __init__(self, lookups: BlockingLookups, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.courier_lookups = lookups

    def dns(
        self, name: str, qtype: str, cnames: object = None, ignore_void: bool = False
    ) -> list[object]:
        name = str(name).rstrip(".").lower()
        lookups = self.courier_lookups
        result: list[object]
        try:
            if qtype == "TXT":
                # pyspf expects each TXT record as its character-strings, in bytes.
                result = [(text.encode("utf-8"),) for text in lookups.txt(name)]
            elif qtype == "A":
                result = list(lookups.a(name))
            elif qtype == "AAAA":
                result = list(lookups.aaaa(name))
            elif qtype == "MX":
                result = list(lookups.mx(name))
            else:
                result = []
        except DnsTemporaryError as err:
            raise spf.TempError(f"DNS {err}") from err
        # RFC 7208 §4.6.4: more than two lookups that find nothing is an error, as pyspf's
        # own `dns` counts them.
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result


def check_spf(
    lookups: BlockingLookups,
    *,
    peer_ip: str | None,
    mail_from: str,
    helo: str | None,
    receiver: str,
) -> SpfOutcome:
    """SPF of the SMTP client `peer_ip` for `mail_from` (or `helo` for a null sender).

    Blocking: run it in a worker thread. Never raises.
    """
    sender = mail_from.strip().strip("<>")
    identity: SpfIdentity = "mailfrom" if sender else "helo"
    domain = normalise_domain(sender.rpartition("@")[2] if sender else (helo or ""))
    if peer_ip is None or not domain:
        return SpfOutcome("none", domain, identity)
    try:
        # pyspf reads "list" and "list6" as modes, not addresses: check first.
        address = str(ipaddress.ip_address(peer_ip.strip().strip("[]")))
        query = _CourierQuery(
            lookups, i=address, s=sender, h=helo or "", receiver=receiver, strict=True
        )
        result = str(query.check()[0])
    except Exception:
        return SpfOutcome("permerror", domain, identity)
    return SpfOutcome(_result(result), domain, identity)


def _result(word: str) -> SpfResult:
    # "ambiguous" (harsh mode only) or anything newer: not a verdict we can rely on.
    return cast(SpfResult, word) if word in _RESULTS else "permerror"
