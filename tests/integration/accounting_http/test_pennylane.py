"""Pennylane through its stand-in over real HTTP on loopback, one story per test."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal

import httpx
import pytest
from PIL import Image
from pypdf import PdfReader

from core.accounting.errors import IntegrationExpired, Rejected, Unavailable
from core.accounting.provider import AccountingProvider, Authorized, BillFile, ListKind
from core.accounting.providers.pennylane import LIMITS, PennylaneProvider
from tests.integration.accounting_http import make_bill
from tests.standins import running
from tests.standins.accounting_limits import Fault
from tests.standins.pennylane import STANDIN, TOKEN, PennylaneStandin, create_app
from tests.standins.pennylane import VAT_RATES as PENNYLANE_VAT_RATES

ACCOUNT = "9000"  # 606100, energy
VAT = "FR_200"
SUPPLIER = "700"  # EDF Entreprises


@dataclass
class Served:
    provider: PennylaneProvider
    standin: PennylaneStandin
    origin: str = ""


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    app = create_app(time_scale=100)
    async with running(app) as origin:
        provider = PennylaneProvider(
            api_url=f"{origin}/api/external/v2", limits=LIMITS.scaled(100), page_size=20
        )
        yield Served(provider, app[STANDIN], origin)
        await provider.aclose()


async def connect(served: Served) -> Authorized:
    return await served.provider.connect_with_secret(secret=f"{TOKEN} 2027-03-31")


async def test_a_company_token_connects_with_its_expiry_date(served: Served) -> None:
    assert isinstance(served.provider, AccountingProvider)
    authorized = await connect(served)
    assert authorized.company.id == "81234"
    assert authorized.company.name == "Boulangerie Dupont"
    assert authorized.grant.access_expires_at is not None
    assert authorized.grant.access_expires_at.date().isoformat() == "2027-03-31"
    warning = served.provider.warning_starts_at(authorized.grant)
    assert warning is not None
    assert warning.date().isoformat() == "2027-03-17"


async def test_a_wrong_token_or_date_is_refused(served: Served) -> None:
    with pytest.raises(IntegrationExpired):
        await served.provider.connect_with_secret(secret="pl_company_wrong")
    with pytest.raises(Rejected, match="YYYY-MM-DD"):
        await served.provider.connect_with_secret(secret=f"{TOKEN} 31/03/2027")


async def test_every_list_is_loaded_through_its_cursor(served: Served) -> None:
    authorized = await connect(served)
    lists = {
        kind: await served.provider.load_list(
            grant=authorized.grant, company=authorized.company, kind=kind
        )
        for kind in ListKind
    }
    assert lists[ListKind.ACCOUNTS][0].name.startswith("606100 ")
    assert len(lists[ListKind.SUPPLIERS]) == 45
    assert [c.name for c in lists[ListKind.CUSTOMERS]] == ["Café du Coin", "Hôtel de la Gare"]
    assert "FR_200" in {t.code for t in lists[ListKind.TAX_RATES]}
    pages = [p for _, p in served.standin.knobs.requests if "/suppliers" in p]
    assert len(pages) == 3
    assert "cursor=20" in pages[1]
    assert "cursor=40" in pages[2]


async def test_a_bill_is_imported_once_with_its_file(served: Served) -> None:
    authorized = await connect(served)
    bill = make_bill(account=ACCOUNT, tax_rate="FR_200", supplier_code=SUPPLIER)
    first = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    again = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    assert again == first
    (stored,) = served.standin.invoices
    assert stored.file == bill.file.content
    assert stored.body["currency_amount"] == "120.00"  # amounts travel as strings
    assert stored.body["invoice_lines"] == [
        {
            "label": "EDF Entreprises FA-2026-0117",
            "currency_amount": "120.00",
            "currency_tax": "20.00",
            "vat_rate": "FR_200",
            "ledger_account_id": 9000,
        }
    ]


async def test_lines_that_do_not_add_up_are_rejected(served: Served) -> None:
    authorized = await connect(served)
    bill = make_bill(account=ACCOUNT, tax_rate=VAT, supplier_code=SUPPLIER)
    broken = replace(bill, total_incl=Decimal("130.00"), total_excl=Decimal("110.00"))
    with pytest.raises(Rejected, match="do not match"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=broken
        )
    assert served.standin.invoices == []


async def test_the_same_number_again_is_a_duplicate(served: Served) -> None:
    authorized = await connect(served)
    await served.provider.publish_bill(
        grant=authorized.grant,
        company=authorized.company,
        bill=make_bill(account=ACCOUNT, tax_rate=VAT, supplier_code=SUPPLIER),
    )
    with pytest.raises(Rejected) as caught:
        await served.provider.publish_bill(
            grant=authorized.grant,
            company=authorized.company,
            bill=make_bill(account=ACCOUNT, tax_rate=VAT, document_id=2),  # found by name this time
        )
    assert caught.value.duplicate
    assert len(served.standin.invoices) == 1


async def test_an_expired_or_revoked_token_means_the_integration_expired(served: Served) -> None:
    authorized = await connect(served)
    served.standin.expire_now(TOKEN)
    with pytest.raises(IntegrationExpired):
        await served.provider.load_list(
            grant=authorized.grant, company=authorized.company, kind=ListKind.SUPPLIERS
        )


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.MALFORMED_JSON])
async def test_a_broken_answer_is_unavailable(served: Served, fault: Fault) -> None:
    authorized = await connect(served)
    served.standin.knobs.fault = fault
    with pytest.raises(Unavailable):
        await served.provider.load_list(
            grant=authorized.grant, company=authorized.company, kind=ListKind.SUPPLIERS
        )


async def test_the_window_of_25_requests_is_respected(served: Served) -> None:
    authorized = await connect(served)
    for number in range(12):  # 3 calls each: 36 calls, past one window of 25
        await served.provider.publish_bill(
            grant=authorized.grant,
            company=authorized.company,
            bill=make_bill(
                f"F-{number}",
                document_id=10 + number,
                account=ACCOUNT,
                tax_rate=VAT,
                supplier_code=SUPPLIER,
            ),
        )
    assert len(served.standin.invoices) == 12
    assert served.standin.knobs.rate_limited == 0


async def test_a_429_is_waited_out(served: Served) -> None:
    authorized = await connect(served)
    served.standin.knobs.fault, served.standin.knobs.fault_times = Fault.RATE_LIMITED, 1
    served.standin.knobs.retry_after = 0.01
    await served.provider.load_list(
        grant=authorized.grant, company=authorized.company, kind=ListKind.CUSTOMERS
    )
    assert served.provider.api.rate_limited == served.provider.api.retried == 1


async def test_the_token_never_shows(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    authorized = await connect(served)
    served.standin.revoke(TOKEN)
    with pytest.raises(IntegrationExpired) as caught:
        await served.provider.load_list(
            grant=authorized.grant, company=authorized.company, kind=ListKind.SUPPLIERS
        )
    seen = caplog.text + repr(authorized) + str(caught.value) + repr(served.provider)
    assert TOKEN not in seen


@pytest.mark.parametrize(
    ("code", "tax", "taken"),
    [
        ("FR_1_05", "1.05", True),
        ("FR_09", "0.90", True),
        ("FR_055", "5.50", False),  # the tutorials' spelling; the reference's is FR_55
        ("FR_70", "7.00", False),
        ("INPUT2", "20.00", False),
    ],
)
async def test_pennylane_takes_its_vat_codes_and_refuses_any_other(
    served: Served, code: str, tax: str, taken: bool
) -> None:
    authorized = await connect(served)
    bill = make_bill(account=ACCOUNT, tax_rate=code, supplier_code=SUPPLIER, tax=tax)
    if taken:
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=bill
        )
        (stored,) = served.standin.invoices
        assert stored.body["invoice_lines"][0]["vat_rate"] == code
        return
    with pytest.raises(Rejected, match=f"Invalid vat_rate: {code}"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=bill
        )
    assert served.standin.invoices == []


async def test_the_full_french_list_is_offered_with_its_rates(served: Served) -> None:
    authorized = await connect(served)
    codes = await served.provider.load_list(
        grant=authorized.grant, company=authorized.company, kind=ListKind.TAX_RATES
    )
    rates = {c.code: Decimal(c.extra["rate"]) for c in codes}
    assert {code: rates[code] for code in ("FR_200", "FR_55", "FR_1_05", "FR_1_75", "FR_09")} == {
        "FR_200": Decimal(20),
        "FR_55": Decimal("5.5"),
        "FR_1_05": Decimal("1.05"),
        "FR_1_75": Decimal("1.75"),
        "FR_09": Decimal("0.9"),
    }
    # Every code offered is one Pennylane takes.
    assert set(rates) <= set(PENNYLANE_VAT_RATES)


async def test_a_credit_note_is_imported_with_negative_amounts(served: Served) -> None:
    authorized = await connect(served)
    bill = replace(
        make_bill("AV-2026-0007", account=ACCOUNT, tax_rate=VAT, supplier_code=SUPPLIER),
        credit_note=True,
    )
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    (stored,) = served.standin.invoices
    assert (stored.body["currency_amount"], stored.body["currency_tax"]) == ("-120.00", "-20.00")
    assert [line["currency_amount"] for line in stored.body["invoice_lines"]] == ["-120.00"]


# --- files: only the kinds Pennylane's attachments accept ---------------------------------


def _photo(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (60, 40), (200, 30, 30, 200)).save(out, format=kind)
    return out.getvalue()


async def test_a_webp_photo_is_sent_as_a_jpeg(served: Served) -> None:
    authorized = await connect(served)
    bill = replace(
        make_bill(account=ACCOUNT, tax_rate=VAT, supplier_code=SUPPLIER),
        file=BillFile(_photo("WEBP"), "ticket.webp", "image/webp"),
    )
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    ((name, content),) = served.standin.files.values()
    assert name == "ticket.jpg"
    with Image.open(io.BytesIO(content)) as image:
        assert (image.format, image.size) == ("JPEG", (60, 40))
    assert len(served.standin.invoices) == 1


async def test_an_xml_e_invoice_gets_a_pdf_rendition_that_carries_it(served: Served) -> None:
    authorized = await connect(served)
    xml = b'<?xml version="1.0" encoding="UTF-8"?><Invoice><ID>FA-2026-0117</ID></Invoice>'
    bill = replace(
        make_bill(account=ACCOUNT, tax_rate=VAT, supplier_code=SUPPLIER),
        file=BillFile(xml, "FA-2026-0117.xml", "application/xml"),
    )
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    ((name, content),) = served.standin.files.values()
    assert name == "FA-2026-0117.pdf"
    reader = PdfReader(io.BytesIO(content))
    text = reader.pages[0].extract_text()
    assert "Invoice FA-2026-0117" in text
    assert "Supplier: EDF Entreprises" in text
    assert "Total incl. tax: 120.00 EUR" in text
    assert reader.attachments == {"FA-2026-0117.xml": [xml]}  # the XML travels unchanged


async def test_a_file_courier_cannot_convert_is_refused_before_any_bill(served: Served) -> None:
    authorized = await connect(served)
    heic = b"\x00\x00\x00\x18ftypheic" + bytes(64)  # no decoder for it in this install
    bill = replace(
        make_bill(account=ACCOUNT, tax_rate=VAT, supplier_code=SUPPLIER),
        file=BillFile(heic, "IMG_0042.HEIC", "image/heic"),
    )
    with pytest.raises(Rejected, match="PDF, PNG, JPEG, TIFF, BMP or GIF"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=bill
        )
    assert served.standin.files == {}
    assert served.standin.invoices == []


@pytest.mark.parametrize(
    ("content", "accepted"),
    [
        (_photo("WEBP"), False),
        (b"<?xml version='1.0'?><Invoice/>", False),
        (b"\x00\x00\x00\x18ftypheic" + bytes(64), False),
        (_photo("PNG"), True),
        (_photo("GIF"), True),
        (_photo("TIFF"), True),
        (_photo("BMP"), True),
    ],
    ids=["webp", "xml", "heic", "png", "gif", "tiff", "bmp"],
)
async def test_the_standin_accepts_only_pennylanes_file_types(
    served: Served, content: bytes, accepted: bool
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{served.origin}/api/external/v2/file_attachments",
            headers={"Authorization": f"Bearer {TOKEN}"},
            files={"file": ("upload.bin", content, "application/octet-stream")},
        )
    assert (response.status_code == 201) is accepted
    if not accepted:
        assert response.status_code == 422
