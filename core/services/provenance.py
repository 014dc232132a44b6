"""Who vouches for a document: the rule that decides whether its sender and bank details
can be believed.

A document is trusted when it came from a connector, when a member uploaded it, when a
member forwarded it from their own authenticated address (the person vouches for it), or
when a known supplier's own domain authenticates it: the mail itself (DKIM or SPF aligned
with From, as DMARC checks it) or a forwarded original (message/rfc822) it signed. The mail
gateway records what it proved as `fields["_vouched"]`; this module only reads it, once the
supplier is known (by its domain, VAT number, SIREN or the name on the page).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from core.domains import domain_matches
from core.models import Document, DocumentSource

VOUCHED = "_vouched"
#: What vouched for a mail's document, as the gateway records it.
Voucher = Literal["supplier_domain", "forwarded_original", "member_forward"]
#: Sources where a person or a supplier's own account delivered the file.
_TRUSTED_SOURCES = frozenset(
    {DocumentSource.CONNECTOR, DocumentSource.UPLOAD, DocumentSource.TELEGRAM}
)
_DOMAIN_PROOFS = ("supplier_domain", "forwarded_original")


def vouched(by: Voucher, domain: str) -> dict[str, Any]:
    """The record the gateway stores: what proved the document, for which domain."""
    return {"by": by, "domain": domain.lower()}


def vouched_domain(document: Document) -> str | None:
    """The domain that authenticated this mail document, if any."""
    record = (document.fields or {}).get(VOUCHED)
    if not isinstance(record, dict) or record.get("by") not in _DOMAIN_PROOFS:
        return None
    domain = record.get("domain")
    return domain if isinstance(domain, str) and domain else None


def vouched_by_person(document: Document) -> bool:
    """Delivered by a connector, a member's upload, or a member's authenticated forward."""
    if DocumentSource(document.source) in _TRUSTED_SOURCES:
        return True
    record = (document.fields or {}).get(VOUCHED)
    return isinstance(record, dict) and record.get("by") == "member_forward"


def trusted_for(document: Document, supplier_domains: Iterable[str]) -> bool:
    """Whether something vouches for `document` as coming from the supplier of these domains.

    A domain proof counts only for the supplier that owns the domain: a lookalike domain
    that signs its own mail proves nothing about Scaleway. Without known domains, only a
    person's or a connector's word counts.
    """
    if vouched_by_person(document):
        return True
    proven = vouched_domain(document)
    if proven is None:
        return False
    domains = [d.lower().rstrip(".") for d in supplier_domains if d]
    # The proof is the authenticated From domain ("factures.edf.fr"): it must be a listed
    # domain or under one; or a parent of a listed mail subdomain ("edf.fr" for "e.edf.fr").
    return domain_matches(proven, domains) or any(domain_matches(d, [proven]) for d in domains)
