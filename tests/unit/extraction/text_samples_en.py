"""English invoice texts (UK, US, EU) in the layouts PDF text layers come in, with answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.extraction.fields import VatLine
from tests.unit.extraction.text_samples import TextSample

D = Decimal

ENGLISH = (
    TextSample(
        "en_uk_classic",
        """Acme Supplies Ltd
221B Baker Street, London NW1 6XE
VAT Reg No: GB 980 7806 84

INVOICE
Invoice No.: INV-10077
Invoice Date: 2 March 2026
Payment due: 1 April 2026

Bill To:
Courier Customer Ltd
VAT: GB123456789

Description          Qty   Unit price    Amount
Consulting, 1 day      2     £650.00    £1,300.00

Subtotal                         £1,300.00
VAT @ 20%                          £260.00
Total                            £1,560.00
Amount due                       £1,560.00
Bank: IBAN GB29 NWBK 6016 1331 9268 19
""",
        {
            "supplier_name": "Acme Supplies Ltd",
            "supplier_vat": "GB980780684",
            "invoice_number": "INV-10077",
            "document_type": "invoice",
            "issue_date": date(2026, 3, 2),
            "due_date": date(2026, 4, 1),
            "currency": "GBP",
            "total_excl_tax": D("1300.00"),
            "total_tax": D("260.00"),
            "total_incl_tax": D("1560.00"),
            "vat_lines": (VatLine(D(20), D("1300.00"), D("260.00")),),
            "iban": "GB29NWBK60161331926819",
        },
    ),
    TextSample(
        "en_us_month_first_sales_tax",
        """Blue Ocean Software Inc.
Invoice # 4471
Date: 11/05/2026
Due Date: 12/05/2026
Service period: 10/01/2026 - 10/31/2026
Subtotal: $2,500.00
Sales Tax (8.875%): $221.88
Total Due: $2,721.88
""",
        {
            "supplier_name": "Blue Ocean Software Inc.",
            "invoice_number": "4471",
            "document_type": "invoice",
            "issue_date": date(2026, 11, 5),
            "due_date": date(2026, 12, 5),
            "period_start": date(2026, 10, 1),
            "period_end": date(2026, 10, 31),
            "currency": "USD",
            "total_excl_tax": D("2500.00"),
            "total_tax": D("221.88"),
            "total_incl_tax": D("2721.88"),
            "vat_lines": (VatLine(D("8.875"), D("2500.00"), D("221.88")),),
        },
    ),
    TextSample(
        "en_stacked_label_above_value",
        """Northwind Traders Ltd
Invoice Number
NW-2026-0009
Invoice Date
15 Nov 2026
Due Date
15 Dec 2026
Net Amount
£1,000.00
VAT (20%)
£200.00
Total (incl. VAT)
£1,200.00
""",
        {
            "supplier_name": "Northwind Traders Ltd",
            "invoice_number": "NW-2026-0009",
            "document_type": "invoice",
            "issue_date": date(2026, 11, 15),
            "due_date": date(2026, 12, 15),
            "currency": "GBP",
            "total_excl_tax": D("1000.00"),
            "total_tax": D("200.00"),
            "total_incl_tax": D("1200.00"),
            "vat_lines": (VatLine(D(20), D("1000.00"), D("200.00")),),
        },
    ),
    TextSample(
        "en_eu_euro_prefix_two_rates_period",
        """Dublin Cloud Services Ltd   IE6388047V
Invoice no: DCS/2026/118
Issued on: Nov 15, 2026
Pay by: Dec 15, 2026
Billing period: 1 Oct 2026 to 31 Oct 2026
VAT 23% on €1,000.00: €230.00
VAT 13.5% on €200.00: €27.00
Total excl. VAT €1,200.00
Total VAT €257.00
Total incl. VAT €1,457.00
""",
        {
            "supplier_name": "Dublin Cloud Services Ltd",
            "supplier_vat": "IE6388047V",
            "invoice_number": "DCS/2026/118",
            "document_type": "invoice",
            "issue_date": date(2026, 11, 15),
            "due_date": date(2026, 12, 15),
            "period_start": date(2026, 10, 1),
            "period_end": date(2026, 10, 31),
            "currency": "EUR",
            "total_excl_tax": D("1200.00"),
            "total_tax": D("257.00"),
            "total_incl_tax": D("1457.00"),
            "vat_lines": (
                VatLine(D(23), D("1000.00"), D("230.00")),
                VatLine(D("13.5"), D("200.00"), D("27.00")),
            ),
        },
    ),
)
