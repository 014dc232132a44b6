"""Supplier and customer rules. They belong to the workspace and outlive integrations."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.catalog.index import fold
from core.models import PartyKind, Rule
from core.models.base import utcnow


async def set_rule(
    *,
    session: AsyncSession,
    workspace_id: int,
    party_name: str,
    party_kind: PartyKind = PartyKind.SUPPLIER,
    supplier_id: int | None = None,
    account_code: str | None = None,
    tax_rate_code: str | None = None,
    auto_publish: bool = False,
) -> Rule:
    """Create or update the rule for this party: one rule per supplier, whatever its spelling."""
    key = fold(party_name)
    rule = (
        await session.exec(
            select(Rule).where(
                Rule.workspace_id == workspace_id,
                Rule.party_kind == party_kind,
                Rule.party_key == key,
            )
        )
    ).first() or Rule(
        workspace_id=workspace_id, party_kind=party_kind, party_key=key, party_name=""
    )
    rule.party_name = party_name.strip()
    rule.supplier_id = supplier_id if supplier_id is not None else rule.supplier_id
    rule.account_code = account_code
    rule.tax_rate_code = tax_rate_code
    rule.auto_publish = auto_publish
    rule.flagged = None
    rule.updated_at = utcnow()
    session.add(rule)
    await session.flush()
    return rule


async def list_rules(*, session: AsyncSession, workspace_id: int) -> list[Rule]:
    query = select(Rule).where(Rule.workspace_id == workspace_id).order_by(col(Rule.party_key))
    return list((await session.exec(query)).all())
