"""Helpers for the HTTP providers' stories: a person's consent, a bill, log capture."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx

from core.accounting.provider import Bill, BillFile, VatLine
from tests.standins import make_pdf

CALLBACK = "http://127.0.0.1:8780/oauth/callback"


async def consent(url: str) -> dict[str, str]:
    """Open the authorisation URL as the person's browser would and give consent: the
    identity server redirects to Courier's callback; its query is returned."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return dict(parse_qsl(urlsplit(location).query))


def make_bill(
    number: str = "FA-2026-0117",
    *,
    document_id: int = 1,
    account: str = "445",
    tax_rate: str | None = "INPUT2",
    supplier_code: str | None = None,
    supplier: str = "EDF Entreprises",
    excl: str = "100.00",
    tax: str = "20.00",
) -> Bill:
    base, vat = Decimal(excl), Decimal(tax)
    return Bill(
        document_id=document_id,
        idempotency_key=f"courier-{document_id:040d}",
        supplier_name=supplier,
        supplier_code=supplier_code,
        number=number,
        issue_date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        currency="EUR",
        total_excl=base,
        total_tax=vat,
        total_incl=base + vat,
        vat_lines=(VatLine(Decimal(20), base, vat, tax_rate),),
        account_code=account,
        tax_rate_code=tax_rate,
        file=BillFile(make_pdf("EDF Entreprises", number), f"{number}.pdf", "application/pdf"),
    )
