"""ARC (RFC 8617): whether the chain of seals holds, who sealed it, what the first hop saw.

A forwarder that checked the supplier's mail on arrival records its results in an
ARC-Authentication-Results header and seals it; later changes (a list footer, a
rewritten subject) break DKIM but not that record. Whether to believe the record depends
on who sealed it, which is a policy decision left to `trust.py`: this module only reports.
"""

from __future__ import annotations

import re

import authres
import authres.arc
import authres.dmarc
import dkim

from mail.authentication.bridge import BlockingLookups
from mail.authentication.domains import normalise_domain
from mail.authentication.results import NO_ARC, ArcOutcome, ArcResult, AuthClaim
from mail.authentication.signatures import QUIET, key_lookup

_INSTANCE = re.compile(rb"^\s*i\s*=\s*\d+\s*;\s*", re.IGNORECASE)
_FEATURES = authres.FeatureContext(authres.arc, authres.dmarc)


def verify_chain(raw: bytes, lookups: BlockingLookups) -> ArcOutcome:
    """Blocking: run it in a worker thread. Never raises."""
    try:
        validation, instances, _reason = dkim.arc_verify(
            raw, logger=QUIET, dnsfunc=key_lookup(lookups, {})
        )
    except Exception:
        return ArcOutcome("fail")
    if validation == dkim.CV_None:
        return NO_ARC
    # None means a seal reported an earlier failure: the chain ended there.
    result: ArcResult = "pass" if validation == dkim.CV_Pass else "fail"
    by_instance = {int(item["instance"]): item for item in instances if "instance" in item}
    sealers = tuple(
        normalise_domain(bytes(by_instance[i].get("as-domain", b"")).decode("ascii", "replace"))
        for i in sorted(by_instance)
    )
    oldest = by_instance.get(1, {}).get("aar-value")
    authserv_id, claims = _claims(oldest) if isinstance(oldest, bytes) else ("", ())
    return ArcOutcome(result, sealers, authserv_id, claims)


def _claims(aar: bytes) -> tuple[str, tuple[AuthClaim, ...]]:
    try:
        text = _INSTANCE.sub(b"", aar, count=1).decode("utf-8", "replace")
        header = _FEATURES.parse_value(text)
        claims = tuple(
            AuthClaim(
                str(result.method).lower(),
                str(result.result).lower(),
                tuple(
                    (f"{prop.type}.{prop.name}".lower(), str(prop.value))
                    for prop in result.properties
                    if prop.value is not None
                ),
            )
            for result in header.results
        )
        return str(header.authserv_id), claims
    except Exception:
        return "", ()
