"""From one corrected page, Courier finds where each value sat: the label nearest to it,
on its left or above it, and the value's shape; the next page is read from there."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.extraction.learned import (
    BELOW,
    RIGHT,
    Anchor,
    find_anchor,
    learn_template,
    locate,
    shape_of,
)
from core.extraction.template import (
    LEARNED_CONFIDENCE,
    TemplateInvalid,
    apply_template,
    parse_template,
)

# Laid out as core/extraction/layout.py writes a page: columns two spaces apart or more.
MARCH = """\
Ateliers Vernier                                   Facture
8 rue du Port, 44000 Nantes
Client : Boulangerie Dupont
Ref. piece AV-2026-0311          Emise le  12/03/2026
Echeance        Mode
11/04/2026      Virement
Sous-total                     980,00
Sous-total HT                  1 000,00
TVA 20 %                       200,00
Net a payer                    1 200,00 EUR
"""
APRIL = """\
Ateliers Vernier                                   Facture
8 rue du Port, 44000 Nantes
Client : Boulangerie Dupont
Ref. piece AV-2026-0457          Emise le  09/04/2026
Echeance        Mode
09/05/2026      Virement
Sous-total                     430,00
Sous-total HT                  450,00
TVA 20 %                       90,00
Net a payer                    540,00 EUR
"""
CORRECTED: dict[str, object] = {
    "supplier_name": "Ateliers Vernier",
    "invoice_number": "AV-2026-0311",
    "issue_date": date(2026, 3, 12),
    "due_date": date(2026, 4, 11),
    "total_excl_tax": Decimal("1000.00"),
    "total_tax": Decimal("200.00"),
    "total_incl_tax": Decimal("1200.00"),
}


def test_a_value_on_its_labels_line_is_anchored_to_the_label_on_its_left() -> None:
    anchor = find_anchor(MARCH, "invoice_number", "AV-2026-0311")
    assert anchor == Anchor("Ref. piece", RIGHT, r"AV\-\d+\-\d+")


def test_a_value_under_its_label_is_anchored_to_the_label_above_it() -> None:
    anchor = find_anchor(MARCH, "due_date", date(2026, 4, 11))
    assert anchor is not None
    assert (anchor.label, anchor.place) == ("Echeance", BELOW)


def test_a_label_that_leads_to_another_value_is_not_learned() -> None:
    # "Sous-total" alone first points at 980,00: the anchor kept is the one that finds
    # the corrected 1 000,00 back.
    anchor = find_anchor(MARCH, "total_excl_tax", Decimal("1000.00"))
    assert anchor is not None
    assert locate(APRIL.splitlines(), anchor) == Decimal("450.00")


def test_a_value_written_nowhere_on_the_page_gives_no_anchor() -> None:
    assert find_anchor(MARCH, "total_incl_tax", Decimal("999.99")) is None


def test_shapes_keep_a_suppliers_letters_and_let_its_numbers_grow() -> None:
    assert shape_of("invoice_number", "INV-0046") == r"INV\-\d+"
    assert shape_of("total_tax", Decimal("1")) == "amount"
    assert shape_of("issue_date", date(2026, 1, 1)) == "date"


def test_the_template_learned_from_march_reads_april() -> None:
    table = learn_template(MARCH, CORRECTED, name="Ateliers Vernier", identifiers=["FR32123456789"])
    template = parse_template(table, origin="learned")
    assert template.matches(APRIL)
    data = apply_template(template, APRIL)
    assert data.invoice_number is not None
    assert data.invoice_number.value == "AV-2026-0457"
    assert data.invoice_number.source == "template"
    assert data.invoice_number.confidence == LEARNED_CONFIDENCE
    read = (data.issue_date, data.due_date, data.supplier_name)
    assert [f.value if f else None for f in read] == [
        date(2026, 4, 9),
        date(2026, 5, 9),
        "Ateliers Vernier",
    ]
    totals = (data.total_excl_tax, data.total_tax, data.total_incl_tax)
    assert [t.value if t else None for t in totals] == [
        Decimal("450.00"),
        Decimal("90.00"),
        Decimal("540.00"),
    ]


def test_a_learned_rule_with_a_wrong_place_is_refused_naming_it() -> None:
    table = {
        "name": "X",
        "match": {"keywords": ["x"]},
        "fields": {"total_tax": {"anchor": "TVA", "place": "left", "shape": "amount"}},
    }
    with pytest.raises(TemplateInvalid, match=r"fields\.total_tax\.place"):
        parse_template(table, origin="learned")
