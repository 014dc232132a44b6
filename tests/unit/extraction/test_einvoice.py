"""Standalone UBL and CII e-invoices read back exactly what they were generated from."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import facturx
import pytest

from core.extraction.einvoice import ExtractionError, read_einvoice
from tests.unit.extraction.corpus import BAKERY, PRINTER_CREDIT, SAMPLES
from tests.unit.extraction.expectations import expected_fields, sources_of, values_of
from tests.unit.extraction.xml_builders import GUIDELINES, build_cii, build_ubl

CII_PROFILES = sorted(GUIDELINES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ubl_fields_are_exact(name: str) -> None:
    sample = SAMPLES[name]
    data = read_einvoice(build_ubl(sample))
    assert values_of(data) == expected_fields(sample)
    assert sources_of(data) == {"ubl"}
    assert data.warnings == ()


@pytest.mark.parametrize("profile", CII_PROFILES)
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cii_fields_are_exact_for_every_profile(name: str, profile: str) -> None:
    sample = SAMPLES[name]
    data = read_einvoice(build_cii(sample, profile))
    assert values_of(data) == expected_fields(sample, minimum=profile == "minimum")
    assert sources_of(data) == {"cii"}
    assert data.warnings == ()


def test_einvoice_fields_have_full_confidence() -> None:
    data = read_einvoice(build_cii(BAKERY, "en16931"))
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.confidence == 1.0
    assert data.supplier_vat is not None
    assert data.supplier_vat.confidence == 1.0


def test_generated_corpus_is_schema_valid() -> None:
    """Guards the tests themselves: the XML they feed the reader is real-world shaped."""
    for sample in SAMPLES.values():
        flavor = "ubl-2.1-creditnote" if sample.credit_note else "ubl-2.1-invoice"
        assert facturx.xml_check_xsd(build_ubl(sample), flavor=flavor)
        for profile in ("minimum", "basicwl", "basic", "en16931", "extended"):
            assert facturx.xml_check_xsd(
                build_cii(sample, profile), flavor="factur-x", level=profile
            )


def test_ubl_credit_note_is_typed_and_due_date_comes_from_payment_means() -> None:
    data = read_einvoice(build_ubl(PRINTER_CREDIT))
    assert data.document_type is not None
    assert data.document_type.value == "credit_note"
    assert data.due_date is not None
    assert data.due_date.value == PRINTER_CREDIT.due


def test_siren_is_derived_from_french_vat_when_not_given() -> None:
    sample = dataclasses.replace(BAKERY, seller_siren=None)
    data = read_einvoice(build_cii(sample, "en16931"))
    assert data.supplier_siren is not None
    assert data.supplier_siren.value == "303265045"


def test_ubl_picks_tax_total_in_document_currency() -> None:
    xml = build_ubl(BAKERY).replace(
        b"<cac:TaxTotal>",
        b'<cac:TaxTotal><cbc:TaxAmount currencyID="USD">999.99</cbc:TaxAmount></cac:TaxTotal>'
        b"<cac:TaxTotal>",
        1,
    )
    data = read_einvoice(xml)
    assert data.total_tax is not None
    assert data.total_tax.value == BAKERY.total_tax


def test_invalid_vat_key_in_xml_is_kept_but_flagged() -> None:
    xml = build_cii(BAKERY, "en16931").replace(b"FR40303265045", b"FR41303265045")
    data = read_einvoice(xml)
    assert "invalid_vat_number" in data.warnings
    assert data.supplier_vat is not None
    assert data.supplier_vat.value == "FR41303265045"
    assert data.supplier_vat.confidence <= 0.5


def test_invalid_iban_in_xml_is_dropped_and_flagged() -> None:
    xml = build_ubl(BAKERY).replace(b"FR7630006000011234567890189", b"FR7630006000011234567890188")
    data = read_einvoice(xml)
    assert data.iban is None
    assert "invalid_iban" in data.warnings


def test_impossible_cii_date_is_flagged_not_raised() -> None:
    xml = build_cii(BAKERY, "en16931").replace(b">20261115<", b">20260231<")
    data = read_einvoice(xml)
    assert data.issue_date is None
    assert "invalid_date" in data.warnings


def test_inconsistent_xml_totals_are_flagged() -> None:
    xml = build_cii(BAKERY, "en16931").replace(
        b"<ram:GrandTotalAmount>721.06<", b"<ram:GrandTotalAmount>722.06<"
    )
    data = read_einvoice(xml)
    assert "totals_mismatch" in data.warnings
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == Decimal("722.06")
    assert data.total_incl_tax.confidence <= 0.5


def test_unknown_xml_is_rejected_with_a_reason() -> None:
    with pytest.raises(ExtractionError) as caught:
        read_einvoice(b"<note><to>Tove</to></note>")
    assert caught.value.reason == "unsupported_xml"


def test_malformed_xml_is_rejected_with_a_reason() -> None:
    with pytest.raises(ExtractionError) as caught:
        read_einvoice(b"<Invoice><unclosed></Invoice>")
    assert caught.value.reason == "malformed_xml"
