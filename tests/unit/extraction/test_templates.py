"""A supplier whose layout the general rules misread is read right by its template,
a data file that needs no code."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.extraction.fields import InvoiceData
from core.extraction.pdf import read_pdf
from core.extraction.template import (
    TemplateInvalid,
    load_templates,
    parse_template,
    read_with_template,
    shipped_templates,
)
from core.extraction.text_rules import read_text
from tests.unit.extraction.pdf_builders import build_pdf

LENOIR = [
    "PAPETERIE LENOIR",
    "14 quai des Chartrons 33000 Bordeaux",
    "Identifiant TVA FR83404833048",
    "Client : Boulangerie Dupont SAS",
    "Piece PL/26/00917 emise le 03.02.2026",
    "Reglement au 05.03.2026",
    "Ramettes A4 x 500 ........ 1.212,50",
    "Enveloppes kraft ........ 37,50",
    "Montant marchandises ...... 1.250,00",
    "Taxes 20 % ....................... 250,00",
    "A REGLER .................... 1.500,00",
]
EXPECTED = {
    "supplier_name": "Papeterie Lenoir",
    "invoice_number": "PL/26/00917",
    "issue_date": date(2026, 2, 3),
    "due_date": date(2026, 3, 5),
    "currency": "EUR",
    "total_excl_tax": Decimal("1250.00"),
    "total_tax": Decimal("250.00"),
    "total_incl_tax": Decimal("1500.00"),
}


def _values(data: InvoiceData) -> dict[str, object]:
    return {n: (f.value if (f := getattr(data, n)) else None) for n in EXPECTED}


def test_the_general_rules_misread_this_layout() -> None:
    data = read_text("\n".join(LENOIR))
    got = _values(data)
    assert got != EXPECTED
    assert got["invoice_number"] is None
    assert data.total_incl_tax is None or data.total_incl_tax.confidence < 0.8


def test_its_template_reads_it_right_from_the_pdf() -> None:
    data = read_pdf(build_pdf(LENOIR))
    assert _values(data) == EXPECTED
    assert data.invoice_number is not None
    assert data.invoice_number.source == "template"
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.confidence >= 0.9  # labelled by the template, cross-checked
    # What the template does not cover still comes from the general rules.
    assert data.supplier_vat is not None
    assert (data.supplier_vat.value, data.supplier_vat.source) == ("FR83404833048", "text")
    assert data.warnings == ()


def test_a_template_applies_only_to_its_supplier() -> None:
    assert read_with_template("Facture n° 12\nBoulangerie Dupont\nTotal TTC : 12,00 €") is None


def test_an_identifier_alone_selects_the_template() -> None:
    data = read_with_template("LENOIR & CIE\nTVA FR 83 404 833 048\nA REGLER ..... 12,00")
    assert data is not None
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == Decimal("12.00")


def test_every_shipped_template_loads() -> None:
    assert "Papeterie Lenoir" in {t.name for t in shipped_templates()}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"match": {"keywords": ["x"]}, "fields": {}}, "name: missing"),
        ({"name": "X", "match": {}, "fields": {}}, "match: needs keywords or identifiers"),
        (
            {"name": "X", "match": {"keywords": ["x"]}, "fields": {"totl": {"value": "1"}}},
            "fields.totl: unknown field",
        ),
        (
            {
                "name": "X",
                "match": {"keywords": ["x"]},
                "fields": {"invoice_number": {"regex": "N (\\S+)"}},
            },
            "needs a (?P<value>...) group",
        ),
        (
            {"name": "X", "match": {"keyword": ["x"]}, "fields": {}},
            "unknown key 'keyword'",
        ),
    ],
)
def test_a_wrong_template_names_what_is_wrong(raw: dict[str, object], message: str) -> None:
    with pytest.raises(TemplateInvalid, match=re.escape(message)):
        parse_template(raw, origin="t.toml")


def test_a_directory_of_templates_is_loaded_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.toml").write_text('name = "B"\n[match]\nkeywords = ["b"]\n[fields]\n')
    (tmp_path / "a.toml").write_text('name = "A"\n[match]\nkeywords = ["a"]\n[fields]\n')
    assert [t.name for t in load_templates(tmp_path)] == ["A", "B"]
    (tmp_path / "c.toml").write_text("name = \n")
    with pytest.raises(TemplateInvalid, match=re.escape("c.toml")):
        load_templates(tmp_path)
