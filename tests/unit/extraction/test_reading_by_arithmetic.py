"""When a page offers several readings, the sums decide: a VAT row is one when its base
times its rate is its tax, the invoice total is net plus VAT, and an OCR slip is put right
only where the arithmetic confirms it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.extraction.text_rules import read_text
from tests.unit.extraction.expectations import values_of


def test_item_lines_with_a_vat_rate_are_not_vat_rows() -> None:
    data = values_of(
        read_text(
            "\n".join(
                [
                    "Invoice INV/2026/0007",
                    "[P-1] Whiteboard pen   15.00 Units   100.00   TVA 20%   1,500.00 €",
                    "[P-2] Screw            45.00 Units     0.20   TVA 20%       9.00 €",
                    "Subtotal    1,509.00 €",
                    "TVA 20%       301.80 €",
                    "Total       1,810.80 €",
                ]
            )
        )
    )
    assert data["invoice_number"] == "INV/2026/0007"
    assert [(v.rate, v.base, v.amount) for v in data["vat_lines"]] == [  # type: ignore[attr-defined]
        (Decimal(20), Decimal("1509.00"), Decimal("301.80"))
    ]
    assert data["total_tax"] == Decimal("301.80")


def test_the_invoice_total_is_net_plus_vat_not_the_amount_due_after_a_balance() -> None:
    data = values_of(
        read_text(
            "\n".join(
                [
                    "SUBTOTAL                  $100.00",
                    "SALES TAX                  $10.00",
                    "TOTAL                     $110.00",
                    "PREVIOUS UNPAID BALANCE   $500.00",
                    "AMOUNT DUE                $610.00",
                ]
            )
        )
    )
    assert data["total_incl_tax"] == Decimal("110.00")


def test_a_net_printed_without_decimals_is_gross_less_vat_and_gives_the_vat_row() -> None:
    data = values_of(
        read_text(
            "\n".join(
                [
                    "SUBTOTAL            1440",
                    "DISCOUNT               4",
                    "NET AFTER REBATE    1436",
                    "TAX RATE           7.00%",
                    "TOTAL TAX         100.52",
                    "BALANCE DUE    $1,536.52",
                ]
            )
        )
    )
    assert data["total_excl_tax"] == Decimal("1436")
    assert [(v.rate, v.base, v.amount) for v in data["vat_lines"]] == [  # type: ignore[attr-defined]
        (Decimal("7.00"), Decimal("1436"), Decimal("100.52"))
    ]


def test_a_decimal_comma_lost_by_ocr_is_put_back_only_where_the_sums_confirm_it() -> None:
    data = values_of(
        read_text(
            "\n".join(
                [
                    "Total facture hors TVA        54,87 €",
                    "TVA 20,00 % sur un montant total de 34,24 €    6,85 €",
                    "TVA 5,50 % sur un montant total de 20,63 €     114€",
                    "Total TVA                      7,99 €",
                    "Total facture TTC              6286€",
                ]
            )
        )
    )
    assert data["total_excl_tax"] == Decimal("54.87")
    assert data["total_incl_tax"] == Decimal("62.86")
    assert [(v.rate, v.base, v.amount) for v in data["vat_lines"]] == [  # type: ignore[attr-defined]
        (Decimal("20.00"), Decimal("34.24"), Decimal("6.85")),
        (Decimal("5.50"), Decimal("20.63"), Decimal("1.14")),
    ]


def test_excise_duties_are_not_the_vat_total() -> None:
    data = values_of(
        read_text(
            "\n".join(
                [
                    "Total Taxes et Contributions   12,12",
                    "Total hors TVA                 54,87",
                    "TVA                             7,99 €",
                    "Total TTC                      62,86 €",
                ]
            )
        )
    )
    assert data["total_tax"] == Decimal("7.99")


def test_a_receipt_is_told_from_an_invoice() -> None:
    receipt = read_text("Contoso, Ltd.\nSales Receipt # No.: 9876\nTotal $10,686.25")
    assert receipt.document_type is not None
    assert receipt.document_type.value == "receipt"
    assert values_of(receipt)["invoice_number"] == "9876"
    invoice = read_text("Receipt of goods\nInvoice No. 42\nTotal 10,00 €")
    assert invoice.document_type is not None
    assert invoice.document_type.value == "invoice"


def test_an_invoice_number_read_with_look_alike_letters_takes_its_digit_reading() -> None:
    data = values_of(
        read_text("Rechnungsnummer: RO00SS32486\nRechnungsdatum: 19.01.2016\nRechnung R0005532486")
    )
    assert data["invoice_number"] == "R0005532486"


def test_a_letters_place_and_date_is_its_issue_date() -> None:
    data = values_of(read_text("Rechnungsnummer: 2015738820\nMünchen, den 01.11.2024\nSeite: 1"))
    assert data["issue_date"] == date(2024, 11, 1)
