"""Two writers at once on one ledger (threads here; processes take the same flock): every
entry lands whole, none is lost, and Beancount accepts the result."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

from core.accounting.provider import Bill, BillFile, Grant, idempotency_key
from core.accounting.providers.beancount import build
from core.config import Settings
from tests.integration.accounting.conftest import LEDGER, bean_check, text_of


def _bill(n: int) -> Bill:
    return Bill(
        document_id=n,
        idempotency_key=idempotency_key(document_sha256=f"{n:064d}", document_id=n, company_id="l"),
        supplier_name="EDF Entreprises",
        supplier_code=None,
        number=f"F-{n}",
        issue_date=date(2026, 11, 1 + n % 28),
        due_date=None,
        currency="EUR",
        total_excl=Decimal("10.00") + n,
        total_tax=Decimal(0),
        total_incl=Decimal("10.00") + n,
        vat_lines=(),
        account_code="Expenses:Energy",
        tax_rate_code=None,
        file=BillFile(
            content=b"%PDF-1.4 " + str(n).encode(),
            filename=f"f{n}.pdf",
            content_type="application/pdf",
        ),
    )


async def test_concurrent_publications_each_land_once_and_whole(ledger: Path) -> None:
    provider = build(Settings(_env_file=None))
    authorized = await provider.connect_with_secret(secret=str(ledger))
    bills = [_bill(n) for n in range(12)]

    published = await asyncio.gather(
        *(
            provider.publish_bill(grant=Grant(), company=authorized.company, bill=b)
            for b in bills + bills[:4]  # four of them twice, at the same time
        )
    )

    text = text_of(ledger)
    assert text.startswith(LEDGER)
    assert text.count("courier_key:") == 12
    for bill in bills:
        assert text.count(bill.idempotency_key) == 1
    assert {p.external_id for p in published} == {b.idempotency_key for b in bills}
    bean_check(ledger)
