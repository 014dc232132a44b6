"""Who sent this invoice: match a reading to the workspace's known suppliers and the catalog.

In this order, as the surest signal first: the supplier's VAT number or SIREN (a known
supplier of the workspace), then the supplier the source already named (the sender's mail
domain, or the connector), then a bank account the workspace already pays that supplier
into, then the name on the page, fuzzily, against the workspace's known suppliers and the
catalog. The page's name comes last because it is only ever a guess: a table header or a
label read as a name must not outweigh a number that belongs to one supplier only. The
matched supplier's profile keeps its identifiers and bank accounts, so that the next
invoice is recognised, and a changed IBAN is noticed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.catalog.index import fold
from core.extraction import InvoiceData
from core.models import PartyKind, Rule, Supplier, SupplierProfile
from core.models.base import utcnow

MatchedBy = Literal["vat", "siren", "source", "iban", "name"]
#: rapidfuzz score (0-100) a name on the page needs to count as a known supplier's.
NAME_SCORE = 90
_LEGAL_FORM = re.compile(
    r"\b(?:sas|sasu|sarl|eurl|sa|snc|sci|scop|selarl|eirl|ltd|limited|llp|plc|inc|llc"
    r"|gmbh|ag|bv|nv|srl|sl|spa|co|company|cie)\b"
)
_NAME_MAX = 160


@dataclass(frozen=True, slots=True)
class CatalogName:
    """A catalog supplier's name or alias, folded, for the fuzzy name match."""

    supplier_id: int
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class SupplierMatch:
    profile: SupplierProfile | None
    supplier_id: int | None
    name: str
    by: MatchedBy
    score: float


def name_key(name: str) -> str:
    """ "Boulangerie Dupont S.A.S." and "BOULANGERIE DUPONT" are one key."""
    folded = fold(name.replace(".", ""))
    return " ".join(_LEGAL_FORM.sub(" ", folded).split())[:_NAME_MAX] or folded[:_NAME_MAX]


async def load_catalog_names(*, session: AsyncSession) -> list[CatalogName]:
    rows = (await session.exec(select(Supplier).where(col(Supplier.listed).is_(True)))).all()
    names: list[CatalogName] = []
    for row in rows:
        assert row.id is not None
        for name in (row.name, *row.aliases):
            key = name_key(name)
            if len(key) >= 3:  # "BP" would match half the page
                names.append(CatalogName(row.id, row.name, key))
    return names


async def match_supplier(
    *,
    session: AsyncSession,
    workspace_id: int,
    data: InvoiceData,
    source_supplier_id: int | None,
    catalog: Sequence[CatalogName] = (),
) -> SupplierMatch | None:
    """The known supplier this reading belongs to, or None; see the module docstring."""
    profiles = list(
        (
            await session.exec(
                select(SupplierProfile).where(SupplierProfile.workspace_id == workspace_id)
            )
        ).all()
    )
    vat = data.supplier_vat.value if data.supplier_vat else None
    siren = data.supplier_siren.value if data.supplier_siren else None
    for profile in profiles:
        if vat and profile.vat == vat:
            return SupplierMatch(profile, profile.supplier_id, profile.name, "vat", 1.0)
    for profile in profiles:
        if siren and profile.siren == siren:
            return SupplierMatch(profile, profile.supplier_id, profile.name, "siren", 1.0)
    if source_supplier_id is not None:
        supplier = await session.get(Supplier, source_supplier_id)
        if supplier is not None:
            owned = next((p for p in profiles if p.supplier_id == source_supplier_id), None)
            return SupplierMatch(owned, source_supplier_id, supplier.name, "source", 1.0)
    if data.iban is not None:
        # Only accounts already confirmed for a supplier are listed on its profile (see
        # check_bank_account), so an account names its supplier as surely as a VAT number.
        iban = _compact(data.iban.value)
        owners = [p for p in profiles if iban in p.ibans]
        if len(owners) == 1:
            owner = owners[0]
            return SupplierMatch(owner, owner.supplier_id, owner.name, "iban", 1.0)
    if data.supplier_name is None:
        return None
    wanted = name_key(data.supplier_name.value)
    if len(wanted) < 3:
        return None
    by_key = {p.name_key: p for p in profiles}
    found = process.extractOne(
        wanted, list(by_key), scorer=fuzz.token_sort_ratio, score_cutoff=NAME_SCORE
    )
    if found is not None:
        profile = by_key[found[0]]
        return SupplierMatch(profile, profile.supplier_id, profile.name, "name", found[1] / 100)
    hit = process.extractOne(
        wanted, [c.key for c in catalog], scorer=fuzz.token_sort_ratio, score_cutoff=NAME_SCORE
    )
    if hit is not None:
        entry = catalog[hit[2]]
        return SupplierMatch(None, entry.supplier_id, entry.name, "name", hit[1] / 100)
    return None


async def remember_supplier(
    *,
    session: AsyncSession,
    workspace_id: int,
    match: SupplierMatch | None,
    data: InvoiceData,
) -> SupplierProfile | None:
    """The profile for this reading's supplier, created on first sight; None if nameless.

    Identifiers are added when missing, never replaced. Bank accounts are not added here:
    the first one from a trusted document by `check_bank_account`, others only when a
    manager confirms them.
    """
    profile = match.profile if match is not None else None
    if profile is None:
        if match is not None:
            name = match.name
        elif data.supplier_name is not None and name_key(data.supplier_name.value):
            name = data.supplier_name.value
        else:
            return None
        key = name_key(name)
        profile = await _by_key(session, workspace_id, key)
        if profile is None:
            profile = SupplierProfile(
                workspace_id=workspace_id,
                supplier_id=match.supplier_id if match is not None else None,
                name=name[:_NAME_MAX],
                name_key=key,
            )
            try:
                async with session.begin_nested():
                    session.add(profile)
                    await session.flush()
            except IntegrityError:
                # Another worker filed this supplier's first invoice at the same moment.
                profile = await _by_key(session, workspace_id, key)
                if profile is None:
                    raise
    if profile.vat is None and data.supplier_vat is not None:
        profile.vat = data.supplier_vat.value[:20]
    if profile.siren is None and data.supplier_siren is not None:
        profile.siren = data.supplier_siren.value[:9]
    if profile.supplier_id is None and match is not None:
        profile.supplier_id = match.supplier_id
    profile.updated_at = utcnow()
    session.add(profile)
    await session.flush()
    return profile


async def _by_key(session: AsyncSession, workspace_id: int, key: str) -> SupplierProfile | None:
    query = select(SupplierProfile).where(
        SupplierProfile.workspace_id == workspace_id, SupplierProfile.name_key == key
    )
    return (await session.exec(query)).first()


def check_bank_account(profile: SupplierProfile, data: InvoiceData, *, trusted: bool) -> str | None:
    """ "new_iban" when an invoice asks to be paid into an account the supplier never used.

    Only a `trusted` document (see core/services/provenance) may give a supplier its first
    account: a forger's invoice arriving first must not make the forger's account the one
    the real invoices are measured against. Any other account waits for a manager.
    """
    if data.iban is None:
        return None
    iban = _compact(data.iban.value)
    if iban in profile.ibans:
        return None
    if trusted and not profile.ibans:
        profile.ibans = [iban]
        return None
    return "new_iban"


def trust_bank_account(profile: SupplierProfile, iban: str) -> None:
    """A manager confirmed the account: later invoices paying into it pass."""
    compact = _compact(iban)
    if compact not in profile.ibans:
        # A new list: the JSON column only notices reassignment.
        profile.ibans = [*profile.ibans, compact]


async def find_supplier_rule(
    *, session: AsyncSession, workspace_id: int, supplier_id: int | None, name: str
) -> Rule | None:
    """The workspace's rule for this supplier, by catalog entry or by its folded name."""
    conditions = [col(Rule.party_key) == fold(name)]
    if supplier_id is not None:
        conditions.append(col(Rule.supplier_id) == supplier_id)
    query = select(Rule).where(
        Rule.workspace_id == workspace_id, Rule.party_kind == PartyKind.SUPPLIER, or_(*conditions)
    )
    return (await session.exec(query)).first()


def _compact(iban: str) -> str:
    return re.sub(r"\s+", "", iban).upper()
