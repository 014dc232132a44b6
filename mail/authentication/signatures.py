"""DKIM (RFC 6376): every signature of a message verified by dkimpy, each with its verdict.

dkimpy folds "key missing", "key lookup timed out" and "bad signature" into one False.
The key lookup here notes what DNS said for each key name, so a False can be told apart
afterwards: permerror (no key), temperror (DNS failed), or fail. A body that no longer
matches its hash (the invoice edited after signing) is a fail, not a permerror.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dkim
import dkim.util

from mail.authentication.bridge import BlockingLookups
from mail.authentication.domains import normalise_domain
from mail.authentication.resolver import DnsTemporaryError
from mail.authentication.results import DkimResult, DkimSignature, safe_selector

# Past this many, signatures are not checked: each costs a DNS lookup the sender chose.
MAX_SIGNATURES = 8

# dkimpy logs every unsigned or forged mail as an ERROR. Those are results here, not
# faults of Courier, so they stay out of the application's logs.
QUIET = logging.getLogger("mail.authentication.dkimpy")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False

KeyLookup = Callable[..., bytes | None]


def key_lookup(lookups: BlockingLookups, outcomes: dict[str, str]) -> KeyLookup:
    """A dkimpy `dnsfunc` that records in `outcomes` the names it could not answer."""

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        key = text.rstrip(".").lower()
        try:
            records = lookups.txt(key)
        except DnsTemporaryError as err:
            outcomes[key] = "temperror"
            # dkimpy catches this one and returns False; the outcome says why.
            raise dkim.DnsTimeoutError(str(err)) from err
        # A selector with several TXT records is ambiguous; the one holding a key wins.
        keyed = [record for record in records if "p=" in record] or records
        if not keyed:
            outcomes[key] = "permerror"
            return None
        return keyed[0].encode("utf-8")

    return dnsfunc


def verify_signatures(raw: bytes, lookups: BlockingLookups) -> tuple[DkimSignature, ...]:
    """One `DkimSignature` per DKIM-Signature header, topmost first. Never raises."""
    try:
        verifier = dkim.DKIM(raw, logger=QUIET)
        headers = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    except Exception:
        return ()
    outcomes: dict[str, str] = {}
    dnsfunc = key_lookup(lookups, outcomes)
    signatures = []
    for index, value in enumerate(headers):
        domain, selector = _signer(value)
        if index >= MAX_SIGNATURES:
            result: DkimResult = "neutral"
        else:
            result = _verify(verifier, index, dnsfunc, outcomes, f"{selector}._domainkey.{domain}")
        signatures.append(DkimSignature(domain, safe_selector(selector), result))
    return tuple(signatures)


def _signer(value: bytes) -> tuple[str, str]:
    try:
        tags = dkim.util.parse_tag_value(value)
        domain = bytes(tags.get(b"d", b"")).decode("ascii", "replace")
        selector = bytes(tags.get(b"s", b"")).decode("ascii", "replace")
    except Exception:
        return "", ""
    return normalise_domain(domain), selector.strip().lower()


def _verify(
    verifier: dkim.DKIM, index: int, dnsfunc: KeyLookup, outcomes: dict[str, str], key: str
) -> DkimResult:
    try:
        if verifier.verify(idx=index, dnsfunc=dnsfunc):
            return "pass"
    except dkim.ValidationError as err:
        return "fail" if "body hash mismatch" in str(err) else "permerror"
    except Exception:
        return "permerror"
    if outcomes.get(key) == "temperror":
        return "temperror"
    if outcomes.get(key) == "permerror":
        return "permerror"
    return "fail"
