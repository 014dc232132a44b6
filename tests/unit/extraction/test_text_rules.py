"""read_text on French, English, German, Dutch, Spanish and Italian layouts: right fields,
honest confidences, loud warnings."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from core.extraction.fields import FIELD_NAMES
from core.extraction.text_rules import read_text
from tests.unit.extraction.corpus import SAMPLES as GENERATED
from tests.unit.extraction.corpus import visible_lines
from tests.unit.extraction.expectations import values_of
from tests.unit.extraction.text_samples import TextSample
from tests.unit.extraction.text_samples_en import ENGLISH
from tests.unit.extraction.text_samples_eu import OTHER_LANGUAGES
from tests.unit.extraction.text_samples_fr import FRENCH

SAMPLES = FRENCH + ENGLISH + OTHER_LANGUAGES


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_text_sample_fields(sample: TextSample) -> None:
    data = read_text(sample.text)
    expected = {name: sample.expected.get(name) for name in FIELD_NAMES}
    assert values_of(data) == expected
    assert set(data.warnings) == sample.warnings


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_visible_text_reads_back(name: str) -> None:
    sample = GENERATED[name]
    data = read_text("\n".join(visible_lines(sample)))
    assert data.invoice_number is not None
    assert data.invoice_number.value == sample.number
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == sample.total_incl
    assert data.supplier_vat is not None
    assert data.supplier_vat.value == sample.seller_vat
    assert data.warnings == ()


def test_every_field_is_tagged_text() -> None:
    data = read_text(SAMPLES[0].text)
    sources = {getattr(data, n).source for n in FIELD_NAMES if getattr(data, n) is not None}
    assert sources == {"text"}


def test_cross_checked_totals_are_highly_confident() -> None:
    data = read_text("Total HT : 100,00 €\nTVA 20 % : 20,00 €\nTotal TTC : 120,00 €")
    for field in (data.total_excl_tax, data.total_tax, data.total_incl_tax, data.vat_lines):
        assert field is not None
        assert field.confidence >= 0.9
    assert data.warnings == ()


def test_labelled_but_unchecked_total_is_about_point_eight() -> None:
    data = read_text("Facture n° 7\nTotal TTC : 120,00 €")
    assert data.total_incl_tax is not None
    assert 0.7 <= data.total_incl_tax.confidence < 0.9


def test_guessed_total_is_at_most_half_sure() -> None:
    data = read_text("Merci de votre visite\n12,00 €\n48,50 €\n3,10 €")
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == Decimal("48.50")
    assert data.total_incl_tax.confidence <= 0.5


def test_totals_that_do_not_add_up_are_flagged_and_distrusted() -> None:
    data = read_text("Total HT : 100,00 €\nTVA 20 % : 20,00 €\nTotal TTC : 125,00 €")
    assert "totals_mismatch" in data.warnings
    for field in (data.total_excl_tax, data.total_incl_tax):
        assert field is not None
        assert field.confidence <= 0.5
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == Decimal("125.00")


def test_vat_lines_that_do_not_add_up_to_the_vat_total_are_flagged() -> None:
    text = (
        "TVA 5,5 % : 5,50 €\nTVA 20 % : 20,00 €\nTotal TVA : 26,00 €\n"
        "Total HT : 200,00 €\nTotal TTC : 226,00 €"
    )
    data = read_text(text)
    assert "totals_mismatch" in data.warnings
    assert data.vat_lines is not None
    assert data.vat_lines.confidence <= 0.5
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.confidence >= 0.9


def test_one_cent_rounding_is_tolerated() -> None:
    data = read_text("Subtotal: £10.01\nVAT 20%: £2.00\nTotal: £12.02")
    assert "totals_mismatch" not in data.warnings


def test_impossible_date_is_warned_and_never_raises() -> None:
    data = read_text("Facture n° 1\nDate : 31/02/2026\nÉchéance : 15/03/2026")
    assert data.issue_date is None
    assert data.due_date is not None
    assert "invalid_date" in data.warnings


def test_due_date_before_issue_date_is_flagged() -> None:
    data = read_text("Date de facture : 15/03/2026\nÉchéance : 15/02/2026")
    assert "due_before_issue" in data.warnings
    assert data.due_date is not None
    assert data.due_date.confidence <= 0.5


def test_amounts_with_no_break_spaces_are_read() -> None:
    text = (
        "Total HT\u00a0: 1\u202f000,00\u00a0€\n"
        "TVA\u202f20\u202f% : 200,00\u00a0€\n"
        "Total TTC : 1\u00a0200,00\u202f€"
    )
    data = read_text(text)
    assert data.total_excl_tax is not None
    assert data.total_excl_tax.value == Decimal("1000.00")
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == Decimal("1200.00")
    assert data.warnings == ()


def test_invalid_supplier_identifiers_are_rejected_with_warnings() -> None:
    text = (
        "Dupont SAS\nN° TVA : FR41303265045\nSIREN : 303 265 046\n"
        "IBAN : FR76 3000 6000 0112 3456 7890 188\nFacture n° 5"
    )
    data = read_text(text)
    assert data.supplier_vat is None
    assert data.supplier_siren is None
    assert data.iban is None
    assert {"invalid_vat_number", "invalid_siren", "invalid_iban"} <= set(data.warnings)


def test_empty_text_gives_empty_data() -> None:
    data = read_text("")
    assert all(getattr(data, name) is None for name in FIELD_NAMES)
    assert data.warnings == ()


@pytest.mark.parametrize("noise", ["du 1 ", "from 1 ", "Total HT 1,00 ", "FR1 "])
def test_hostile_long_lines_stay_fast(noise: str) -> None:
    # CPU time, not wall time: on a busy machine the wall clock measures the neighbours.
    started = time.process_time()
    read_text(noise * 10_000)
    assert time.process_time() - started < 5.0
