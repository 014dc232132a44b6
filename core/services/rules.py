"""Supplier and customer rules. They belong to the workspace and outlive integrations.

A rule names the account, tax rate and contact *as the software codes them*. When the
software changes, `transfer_rules` maps each code to the new software's lists: the same
code first, then the closest name (rapidfuzz). What it cannot map is kept on the rule,
flagged `transfer_unmapped` (its documents are held), and reported: nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.errors import NoIntegration, RuleCodeUnknown
from core.catalog.index import fold
from core.errors import NotFound
from core.models import (
    Document,
    DocumentState,
    Integration,
    IntegrationState,
    ListEntry,
    ListKind,
    ListLoad,
    PartyKind,
    Rule,
)
from core.models.base import utcnow
from core.permissions import Action, Who, require
from core.services.documents import move_document
from core.services.integrations import LIST_FLAGS, current_integration, require_manager

FLAG_UNMAPPED = "transfer_unmapped"
#: The publish's hold reason when the supplier has no rule, or a rule without an account.
MISSING_ACCOUNT = "missing_account"
#: Prefix of the publish's hold reasons for a flagged rule (rule_account_deleted, ...).
RULE_HOLD = "rule_"
#: How alike two names must be (0-100, token_sort_ratio on folded names) to be one account:
#: strict on purpose, since a wrong account is worse than a question (WRatio matched
#: "Assets:VAT:Deductible (20 %)" with "TVA 20 %" on the shared "20 %").
NAME_MATCH = 85.0


async def set_rule(
    *,
    session: AsyncSession,
    workspace_id: int,
    party_name: str,
    party_kind: PartyKind = PartyKind.SUPPLIER,
    supplier_id: int | None = None,
    account_code: str | None = None,
    tax_rate_code: str | None = None,
    contact_code: str | None = None,
    auto_publish: bool = False,
    check_lists: bool = False,
) -> Rule:
    """Create or update the rule for this party: one rule per supplier, whatever its spelling.
    With `check_lists`, codes must be in the live integration's loaded lists."""
    if check_lists:
        await _check_codes(
            session,
            workspace_id,
            {ListKind.ACCOUNTS: account_code, ListKind.TAX_RATES: tax_rate_code},
        )
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
    rule.contact_code = contact_code if contact_code is not None else rule.contact_code
    rule.auto_publish = auto_publish
    rule.flagged = None
    rule.updated_at = utcnow()
    session.add(rule)
    await session.flush()
    await release_rule_holds(session=session, workspace_id=workspace_id, party_key=key)
    return rule


async def save_rule(
    *,
    session: AsyncSession,
    by: Who,
    workspace_id: int,
    party_name: str,
    account_code: str,
    tax_rate_code: str | None,
    auto_publish: bool,
) -> Rule:
    """A person's rule, from an interface: theirs to set only if the permission table says
    so (MANAGE_RULES); its codes must be in the live integration's lists."""
    require(by, Action.MANAGE_RULES, workspace_id=workspace_id)
    return await set_rule(
        session=session,
        workspace_id=workspace_id,
        party_name=party_name,
        account_code=account_code,
        tax_rate_code=tax_rate_code,
        auto_publish=auto_publish,
        check_lists=True,
    )


async def delete_rule(*, session: AsyncSession, by: Who, workspace_id: int, rule_id: int) -> Rule:
    """Forget a rule (MANAGE_RULES); its supplier's next invoices wait for an account."""
    rule = await session.get(Rule, rule_id)
    if rule is None or rule.workspace_id != workspace_id:
        raise NotFound(kind="rule", ident=rule_id)
    require(by, Action.MANAGE_RULES, workspace_id=workspace_id)
    await session.delete(rule)
    await session.flush()
    return rule


def held_by_rule(document: Document) -> bool:
    """Held by a publish for want of a usable rule: no account, or a flagged rule."""
    reason = document.state_reason or ""
    return (document.state == DocumentState.NEEDS_REVIEW and reason == MISSING_ACCOUNT) or (
        document.state == DocumentState.BLOCKED and reason.startswith(RULE_HOLD)
    )


async def usable_rule(session: AsyncSession, document: Document) -> Rule | None:
    """The document's supplier rule (by name, else by supplier) if it can publish now."""
    if not document.supplier_name:
        return None
    rules = (
        await session.exec(select(Rule).where(Rule.workspace_id == document.workspace_id))
    ).all()
    key = fold(document.supplier_name)
    rule = next((r for r in rules if r.party_key == key), None)
    if rule is None and document.supplier_id is not None:
        rule = next((r for r in rules if r.supplier_id == document.supplier_id), None)
    if rule is None or not rule.account_code or rule.flagged:
        return None
    return rule


async def release_rule_holds(
    *, session: AsyncSession, workspace_id: int, party_key: str | None = None
) -> list[int]:
    """Documents held for their rule whose rule is now usable go back to the inbox, ready:
    `courier publish --all-ready` takes them, and an auto-publish rule sends them (the
    caller runs `on_document_ready` for the returned ids once this has committed).
    With `party_key` (a folded supplier name), that supplier's documents only."""
    documents = (
        await session.exec(
            select(Document).where(
                Document.workspace_id == workspace_id,
                col(Document.state).in_((DocumentState.NEEDS_REVIEW, DocumentState.BLOCKED)),
            )
        )
    ).all()
    released: list[int] = []
    for document in documents:
        if document.id is None or not held_by_rule(document):
            continue
        rule = await usable_rule(session, document)
        if rule is None or (party_key is not None and rule.party_key != party_key):
            continue
        move_document(document, DocumentState.INBOX)
        session.add(document)
        released.append(document.id)
    await session.flush()
    return released


async def _check_codes(
    session: AsyncSession, workspace_id: int, codes: dict[ListKind, str | None]
) -> None:
    integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is None:
        return  # rules may be written before any software is linked
    for kind, code in codes.items():
        if not code:
            continue
        loaded = (
            await session.exec(
                select(ListLoad.id).where(
                    ListLoad.integration_id == integration.id, ListLoad.kind == kind
                )
            )
        ).first()
        if loaded is None:
            continue
        found = (
            await session.exec(
                select(ListEntry.id).where(
                    ListEntry.integration_id == integration.id,
                    ListEntry.kind == kind,
                    ListEntry.code == code,
                )
            )
        ).first()
        if found is None:
            raise RuleCodeUnknown(kind=str(kind), code=code)


async def list_rules(*, session: AsyncSession, workspace_id: int) -> list[Rule]:
    query = select(Rule).where(Rule.workspace_id == workspace_id).order_by(col(Rule.party_key))
    return list((await session.exec(query)).all())


@dataclass(frozen=True, slots=True)
class Unmapped:
    party_name: str
    #: account, tax_rate or contact.
    field: str
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class TransferReport:
    rules: int
    mapped: int
    unmapped: list[Unmapped]


_FIELDS = (
    ("account", "account_code", ListKind.ACCOUNTS),
    ("tax_rate", "tax_rate_code", ListKind.TAX_RATES),
    ("contact", "contact_code", ListKind.SUPPLIERS),
)


async def transfer_rules(
    *, session: AsyncSession, workspace_id: int, actor: int | None
) -> TransferReport:
    """Map every rule from the previous software's codes to the current software's."""
    await require_manager(
        session=session, workspace_id=workspace_id, actor=actor, action=Action.MANAGE_RULES
    )
    current = await current_integration(session=session, workspace_id=workspace_id)
    if current is None:
        raise NoIntegration()
    assert current.id is not None
    previous = (
        await session.exec(
            select(Integration)
            .where(
                Integration.workspace_id == workspace_id,
                Integration.state == IntegrationState.DISCONNECTED,
                Integration.id != current.id,
            )
            .order_by(col(Integration.state_changed_at).desc(), col(Integration.id).desc())
        )
    ).first()
    old_names = await _names(session, previous.id) if previous and previous.id else {}
    new_lists = await _names(session, current.id)
    unmapped: list[Unmapped] = []
    rules = await list_rules(session=session, workspace_id=workspace_id)
    mapped = 0
    for rule in rules:
        missing_before = len(unmapped)
        for field, attribute, kind in _FIELDS:
            code: str | None = getattr(rule, attribute)
            target = new_lists.get(kind, {})
            if not code:
                if kind == ListKind.SUPPLIERS:
                    setattr(rule, attribute, _closest(rule.party_name, target))
                continue
            name = old_names.get(kind, {}).get(code, code)
            new_code = code if code in target else _closest(name, target)
            if new_code is None:
                unmapped.append(Unmapped(rule.party_name, field, code, name))
            else:
                setattr(rule, attribute, new_code)
        if rule.tax_codes:
            rule.tax_codes = _moved_rate_codes(
                rule.tax_codes,
                old_names.get(ListKind.TAX_RATES, {}),
                new_lists.get(ListKind.TAX_RATES, {}),
            )
        if len(unmapped) > missing_before:
            rule.flagged = FLAG_UNMAPPED
        else:
            mapped += 1
            if rule.flagged in (*LIST_FLAGS, FLAG_UNMAPPED):
                rule.flagged = None
        rule.updated_at = utcnow()
        session.add(rule)
    await session.flush()
    return TransferReport(rules=len(rules), mapped=mapped, unmapped=unmapped)


def _moved_rate_codes(
    chosen: dict[str, str], old: dict[str, str], new: dict[str, str]
) -> dict[str, str] | None:
    """The codes a person chose per VAT rate, in the new software by the same name; one
    that has none there is dropped (never flagged): that rate is asked about again in the
    chat at the supplier's next bill (core/services/publish_questions.py)."""
    moved = {
        rate: code if code in new else _closest(old.get(code, code), new)
        for rate, code in chosen.items()
    }
    return {rate: code for rate, code in moved.items() if code} or None


async def _names(session: AsyncSession, integration_id: int) -> dict[ListKind, dict[str, str]]:
    entries = (
        await session.exec(select(ListEntry).where(ListEntry.integration_id == integration_id))
    ).all()
    lists: dict[ListKind, dict[str, str]] = {}
    for entry in entries:
        lists.setdefault(ListKind(entry.kind), {})[entry.code] = entry.name
    return lists


def _closest(name: str, choices: dict[str, str]) -> str | None:
    """The code whose name is closest to `name`, if close enough to be the same thing."""
    if not choices or not name:
        return None
    best = process.extractOne(
        name, choices, scorer=fuzz.token_sort_ratio, processor=fold, score_cutoff=NAME_MATCH
    )
    return None if best is None else str(best[2])


# --- What the rules conversation looks up (core/flows/rules.py) -----------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """An account or tax rate of the live integration's loaded lists."""

    code: str
    name: str

    @property
    def label(self) -> str:
        """ "Energy (Expenses:Energy)", or the code alone when it is its own name."""
        return f"{self.name} ({self.code})" if self.name and self.name != self.code else self.code


async def list_entries(*, session: AsyncSession, workspace_id: int, kind: ListKind) -> list[Entry]:
    """The live integration's loaded list of `kind`, by code ([] with no link)."""
    integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is None:
        return []
    rows = await session.exec(
        select(ListEntry)
        .where(ListEntry.integration_id == integration.id, ListEntry.kind == kind)
        .order_by(col(ListEntry.code))
    )
    return [Entry(row.code, row.name) for row in rows.all()]


def matching(entries: list[Entry], query: str) -> list[Entry]:
    """The entries whose code or name holds `query` (folded: case and accents ignored);
    an entry whose code or name is exactly the query comes alone."""
    wanted = fold(query)
    if not wanted:
        return []
    exact = [e for e in entries if wanted in (fold(e.code), fold(e.name))]
    if len(exact) == 1:
        return exact
    return [e for e in entries if wanted in fold(e.code) or wanted in fold(e.name)]


async def rule_of(*, session: AsyncSession, workspace_id: int, party_name: str) -> Rule | None:
    """The supplier rule for this name, however it is spelt."""
    key = fold(party_name)
    return next(
        (
            r
            for r in await list_rules(session=session, workspace_id=workspace_id)
            if r.party_key == key
        ),
        None,
    )


async def workspace_rule(*, session: AsyncSession, workspace_id: int, rule_id: int) -> Rule:
    """Rule `rule_id`, if it is this workspace's (NotFound otherwise: deleted, or another's)."""
    rule = await session.get(Rule, rule_id)
    if rule is None or rule.workspace_id != workspace_id:
        raise NotFound(kind="rule", ident=rule_id)
    return rule


async def suppliers_without_rule(
    *, session: AsyncSession, workspace_id: int, limit: int
) -> list[str]:
    """The suppliers of the workspace's documents that have no rule yet, by name (the
    latest spelling of each), at most `limit`."""
    ruled = {r.party_key for r in await list_rules(session=session, workspace_id=workspace_id)}
    names = await session.exec(
        select(Document.supplier_name)
        .where(Document.workspace_id == workspace_id, col(Document.supplier_name).is_not(None))
        .order_by(col(Document.id).desc())
    )
    seen: dict[str, str] = {}
    for name in names.all():
        key = fold(name or "")
        if key and key not in ruled and key not in seen:
            seen[key] = name or ""
    return [seen[key] for key in sorted(seen)][:limit]
