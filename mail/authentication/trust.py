"""Whether authentication vouches for a known supplier's domain: the fraud signal.

A message whose From names a supplier's domain is vouched for by an aligned DKIM
signature or SPF pass (which is what DMARC pass means), or by an ARC chain whose every
sealer the operator trusts and whose first hop saw such a pass. Forwarding breaks SPF but
not DKIM, so a forwarded supplier mail still signed by the supplier is vouched for.

ARC trust needs the sealers named: anyone can seal a chain with their own domain, and a
chain passes as long as its newest message signature does, so an untrusted hop could
edit the body (the IBAN) under an older hop's honest "dkim=pass".
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from mail.authentication.domains import aligned, normalise_domain, organisational_domain
from mail.authentication.results import AuthClaim, SenderAuth

Trust = Literal["authenticated", "unauthenticated", "unknown"]
Voucher = Literal["dkim", "spf", "arc"]


def sender_trust(
    auth: SenderAuth,
    *,
    supplier_domains: Collection[str],
    trusted_sealers: Collection[str] = (),
) -> Trust:
    """How far the From domain is a known supplier's and proven to be.

    "unknown" when From names no known supplier (nothing to compare with) or when DNS
    failed where a pass could have come from; retrying later may then decide.
    """
    if not claims_supplier(auth, supplier_domains):
        return "unknown"
    if vouched_by(auth, trusted_sealers=trusted_sealers) is not None:
        return "authenticated"
    return "unknown" if _undecided(auth) else "unauthenticated"


def looks_spoofed(
    auth: SenderAuth,
    *,
    supplier_domains: Collection[str],
    trusted_sealers: Collection[str] = (),
) -> bool:
    """True when From names a known supplier and nothing vouches for it.

    It errs toward review: a DNS failure that leaves the question open also says True.
    """
    return (
        claims_supplier(auth, supplier_domains)
        and vouched_by(auth, trusted_sealers=trusted_sealers) is None
    )


def claims_supplier(auth: SenderAuth, supplier_domains: Collection[str]) -> bool:
    """Whether any From domain belongs to the organisation of a supplier domain."""
    suppliers = {organisational_domain(normalise_domain(d)) for d in supplier_domains} - {""}
    claimed = {organisational_domain(d) for d in (auth.from_domain, *auth.extra_from_domains)}
    return bool(suppliers & claimed)


def vouched_by(auth: SenderAuth, *, trusted_sealers: Collection[str] = ()) -> Voucher | None:
    """What proves the From domain, as a key for the reader's explanation; None if nothing."""
    if auth.extra_from_domains or not auth.from_domain:
        return None
    if auth.aligned_domain is not None:
        return "dkim" if _dkim_aligned(auth) else "spf"
    if _arc_vouches(auth, trusted_sealers):
        return "arc"
    return None


def _dkim_aligned(auth: SenderAuth) -> bool:
    return any(sig.domain == auth.aligned_domain and sig.result == "pass" for sig in auth.dkim)


def _arc_vouches(auth: SenderAuth, trusted_sealers: Collection[str]) -> bool:
    chain = auth.arc
    trusted = {organisational_domain(normalise_domain(d)) for d in trusted_sealers} - {""}
    if chain.result != "pass" or not chain.sealers or not trusted:
        return False
    if any(organisational_domain(sealer) not in trusted for sealer in chain.sealers):
        return False
    return any(_claim_vouches(claim, auth.from_domain) for claim in chain.claims)


def _claim_vouches(claim: AuthClaim, from_domain: str) -> bool:
    if claim.result != "pass":
        return False
    identifier = {
        "dmarc": claim.get("header.from"),
        "dkim": claim.get("header.d"),
        "spf": claim.get("smtp.mailfrom"),
    }.get(claim.method)
    if not identifier:
        return False
    return aligned(normalise_domain(identifier.rpartition("@")[2]), from_domain)


def _undecided(auth: SenderAuth) -> bool:
    if auth.extra_from_domains or not auth.from_domain:
        return False
    if auth.dmarc.result == "temperror":
        return True
    if auth.spf.result == "temperror" and aligned(auth.spf.domain, auth.from_domain):
        return True
    return any(
        sig.result == "temperror" and aligned(sig.domain, auth.from_domain) for sig in auth.dkim
    )
