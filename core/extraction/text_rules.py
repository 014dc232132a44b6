"""Read invoice data from a document's plain text (PDF text layer or OCR output).

Entry point `read_text`. French and English layouts are both handled; each reader lives in
its own module (text_header, text_dates, text_totals, identifiers) and this one assembles
their findings, then cross-checks the totals so that a misread is flagged, never silent.

Confidence scale: labelled and cross-checked >= 0.9, labelled only ~0.8, guessed <= 0.5.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from core.extraction.amounts import detect_currency, normalise_spaces
from core.extraction.checks import cross_check_totals
from core.extraction.dates import written_month_first
from core.extraction.fields import Field, InvoiceData, add_warnings
from core.extraction.identifiers import find_identifiers
from core.extraction.text_dates import read_dates
from core.extraction.text_header import (
    find_buyer_blocks,
    guess_supplier_name,
    read_document_type,
    read_invoice_number,
)
from core.extraction.text_totals import read_totals

CROSS_CHECKED = 0.95
# Real invoice lines are short; a longer one is layout noise or hostile, and several label
# patterns cost time quadratic in line length, so long lines are cut into pieces.
MAX_LINE = 300


def read_text(text: str) -> InvoiceData:
    """Read every field this engine knows from `text`; source "text" throughout."""
    text = normalise_spaces(text)
    lines = split_lines(text)
    buyer = find_buyer_blocks(lines)

    totals = read_totals(lines)
    currency = detect_currency(text, list(totals.amounts_near_totals))
    # The page's own unambiguous dates decide; failing those, US documents write
    # month/day and everyone else we serve writes day/month.
    month_first = written_month_first(lines)
    if month_first is None:
        month_first = currency is not None and currency[0] == "USD"
    dates = read_dates(lines, month_first=month_first)
    # The seller's name and numbers are looked for outside the customer's block only.
    identifiers = find_identifiers(buyer.lines, buyer.rows)

    data = InvoiceData(
        supplier_name=guess_supplier_name(buyer.lines, buyer.rows, buyer.names),
        supplier_vat=identifiers.supplier_vat,
        supplier_siren=identifiers.supplier_siren,
        invoice_number=read_invoice_number(lines),
        document_type=read_document_type(text),
        issue_date=dates.issue_date,
        due_date=dates.due_date,
        period_start=dates.period_start,
        period_end=dates.period_end,
        currency=None if currency is None else Field(currency[0], "text", currency[1]),
        total_excl_tax=totals.total_excl_tax,
        total_tax=totals.total_tax,
        total_incl_tax=totals.total_incl_tax,
        vat_lines=totals.vat_lines,
        iban=identifiers.iban,
    )
    data = add_warnings(data, *dates.warnings, *identifiers.warnings)
    data = cross_check_totals(data, confirmed_confidence=CROSS_CHECKED)
    return _fill_tax_from_vat_lines(data)


def split_lines(text: str) -> list[str]:
    """Split into lines, cutting any line longer than MAX_LINE at a space where possible."""
    lines: list[str] = []
    for line in text.splitlines():
        while len(line) > MAX_LINE:
            cut = line.rfind(" ", MAX_LINE // 2, MAX_LINE)
            cut = MAX_LINE if cut == -1 else cut
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def _fill_tax_from_vat_lines(data: InvoiceData) -> InvoiceData:
    """With no VAT total written, the breakdown's sum is the total, as sure as the lines.

    Done after the cross-check so that the sum is never "confirmed" against itself.
    """
    if data.total_tax is not None or data.vat_lines is None:
        return data
    total = sum((line.amount for line in data.vat_lines.value), Decimal(0))
    return dataclasses.replace(data, total_tax=Field(total, "text", data.vat_lines.confidence))
