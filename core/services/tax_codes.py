"""Each VAT line's own tax code, taken from the tax list the software gave us.

A bill at 20 % and 5.5 % needs two codes: Xero's TaxType for each EffectiveRate,
QuickBooks' TaxCode whose purchase rates add up to it, Pennylane's `FR_200` / `FR_55`,
a Beancount account opened with `tax_rate:` for each. The supplier rule's tax code only
breaks a tie between codes of the same rate, and is the code of a document that has no
VAT lines. A rate the list has no code for is `Unmapped`: the document goes to review,
it is never posted under another rate's code.

A software whose list says no rate at all (nothing to judge by) keeps the rule's code.

A code a person chose for a rate of the supplier (the rule's `tax_codes`, asked in the
chat when the rate had none) wins for that rate, while the software still lists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounting.provider import VatLine
from core.models import ListEntry, ListKind

#: The review reason (and message key) of a document with a rate the software has no code for.
UNMAPPED_REASON = "vat_rate_unmapped"


@dataclass(frozen=True, slots=True)
class TaxCode:
    """One entry of the tax list: its code, its rate in percent when the software says it,
    and whether it may be put on a purchase (Xero's CanApplyToExpenses, a QuickBooks code
    with purchase rates)."""

    code: str
    rate: Decimal | None
    purchases: bool = True


@dataclass(frozen=True, slots=True)
class Unmapped:
    """A VAT rate of the document that no purchase tax code of the software has."""

    rate: Decimal


def tax_code_of(code: str, extra: Mapping[str, Any]) -> TaxCode:
    return TaxCode(code, _rate(extra.get("rate")), extra.get("purchases", True) is not False)


def rate_key(rate: Decimal) -> str:
    """A rate as the rule's `tax_codes` keys it: `8.5`, `20` (never `20.00`)."""
    return f"{rate.normalize():f}"


def assign_codes(
    lines: tuple[VatLine, ...],
    codes: Iterable[TaxCode],
    default: str | None,
    chosen: Mapping[str, str] | None = None,
) -> tuple[VatLine, ...] | Unmapped:
    """`lines` with the software's code for each rate, or the first rate without one;
    `chosen` (rate key → code) is what a person picked for a rate of the supplier."""
    known = list(codes)
    listed = {c.code for c in known if c.purchases}
    # A chosen code the software no longer lists is forgotten: the rate is asked again.
    picked = {k: v for k, v in (chosen or {}).items() if v in listed}
    rated = [c for c in known if c.rate is not None and c.purchases]
    if not rated:
        return tuple(
            replace(line, tax_rate_code=picked.get(rate_key(line.rate), default)) for line in lines
        )
    out: list[VatLine] = []
    for line in lines:
        if rate_key(line.rate) in picked:
            out.append(replace(line, tax_rate_code=picked[rate_key(line.rate)]))
            continue
        matching = [c for c in rated if c.rate == line.rate]
        if not matching:
            return Unmapped(line.rate)
        # Several codes at one rate (a reduced-rate scheme, an import code): the rule's
        # choice wins; otherwise the software's first, as its own list orders them.
        code = next((c for c in matching if c.code == default), matching[0])
        out.append(replace(line, tax_rate_code=code.code))
    return tuple(out)


async def load_tax_codes(*, session: AsyncSession, integration_id: int) -> list[TaxCode]:
    entries = (
        await session.exec(
            select(ListEntry)
            .where(
                ListEntry.integration_id == integration_id,
                ListEntry.kind == ListKind.TAX_RATES,
            )
            .order_by(ListEntry.id)  # type: ignore[arg-type]
        )
    ).all()
    return [tax_code_of(e.code, e.extra or {}) for e in entries]


def _rate(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        return None
    return rate if rate.is_finite() else None
