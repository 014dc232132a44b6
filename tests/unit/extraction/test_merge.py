"""merge keeps the best source per field and flags e-invoice/text contradictions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.extraction.fields import Field, FieldSource, InvoiceData, VatLine
from core.extraction.merge import merge


def _f(value: object, source: FieldSource, confidence: float = 0.8) -> Field[object]:
    return Field(value, source, confidence)


def test_einvoice_beats_text_and_conflict_is_recorded() -> None:
    xml = InvoiceData(invoice_number=Field("F-1", "facturx", 1.0))
    text = InvoiceData(invoice_number=Field("F-2", "text", 0.85))
    merged = merge(text, xml)
    assert merged.invoice_number == Field("F-1", "facturx", 1.0)
    assert merged.warnings == ("source_conflict:invoice_number",)


def test_equal_values_written_differently_are_no_conflict() -> None:
    xml = InvoiceData(
        supplier_vat=Field("FR40303265045", "cii", 1.0),
        total_incl_tax=Field(Decimal("120.00"), "cii", 1.0),
    )
    text = InvoiceData(
        supplier_vat=Field("fr 40 303 265 045", "text", 0.95),
        total_incl_tax=Field(Decimal("120"), "text", 0.95),
    )
    assert merge(xml, text).warnings == ()


def test_a_guess_in_the_text_is_no_conflict() -> None:
    xml = InvoiceData(supplier_name=Field("Boulangerie Dupont SAS", "ubl", 1.0))
    text = InvoiceData(supplier_name=Field("Le fournil du quartier", "text", 0.3))
    assert merge(xml, text).warnings == ()


def test_source_rank_then_confidence_then_order() -> None:
    merged = merge(
        InvoiceData(currency=Field("GBP", "ocr", 0.99), iban=Field("A", "text", 0.6)),
        InvoiceData(currency=Field("EUR", "template", 0.5), iban=Field("B", "text", 0.9)),
        InvoiceData(currency=Field("USD", "connector", 0.4), iban=Field("C", "text", 0.9)),
    )
    assert merged.currency == Field("USD", "connector", 0.4)
    assert merged.iban == Field("B", "text", 0.9)


def test_user_correction_outranks_the_einvoice() -> None:
    merged = merge(
        InvoiceData(issue_date=Field(date(2026, 1, 1), "facturx", 1.0)),
        InvoiceData(issue_date=Field(date(2026, 1, 2), "user", 1.0)),
    )
    assert merged.issue_date == Field(date(2026, 1, 2), "user", 1.0)
    assert merged.warnings == ()


def test_fields_missing_from_the_einvoice_come_from_the_text() -> None:
    merged = merge(
        InvoiceData(total_incl_tax=Field(Decimal("120.00"), "facturx", 1.0)),
        InvoiceData(iban=Field("FR7630006000011234567890189", "text", 0.95)),
    )
    assert merged.total_incl_tax is not None
    assert merged.iban is not None
    assert merged.iban.source == "text"


def test_stale_text_warnings_are_dropped_when_the_xml_supplied_the_fields() -> None:
    xml = InvoiceData(
        total_excl_tax=Field(Decimal("100"), "cii", 1.0),
        total_tax=Field(Decimal("20"), "cii", 1.0),
        total_incl_tax=Field(Decimal("120"), "cii", 1.0),
        vat_lines=Field((VatLine(Decimal(20), Decimal(100), Decimal(20)),), "cii", 1.0),
    )
    text = InvoiceData(
        total_incl_tax=Field(Decimal("125"), "text", 0.5),
        warnings=("totals_mismatch", "unknown_key"),
    )
    merged = merge(xml, text)
    assert "totals_mismatch" not in merged.warnings
    assert "unknown_key" in merged.warnings


def test_warnings_about_fields_nobody_better_read_are_kept() -> None:
    text = InvoiceData(invoice_number=Field("7", "text", 0.85), warnings=("invalid_date",))
    xml = InvoiceData(invoice_number=Field("7", "facturx", 1.0))
    assert merge(xml, text).warnings == ("invalid_date",)


def test_mixed_sources_that_do_not_add_up_are_flagged() -> None:
    merged = merge(
        InvoiceData(total_incl_tax=Field(Decimal("120"), "connector", 0.9)),
        InvoiceData(
            total_excl_tax=Field(Decimal("100"), "text", 0.8),
            total_tax=Field(Decimal("25"), "text", 0.8),
        ),
    )
    assert "totals_mismatch" in merged.warnings


def test_merge_of_nothing_is_empty() -> None:
    assert merge() == InvoiceData()
    only = InvoiceData(currency=Field("EUR", "text", 0.7), warnings=("x",))
    assert merge(only) == only
