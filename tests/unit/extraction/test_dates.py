"""Dates in French and English, with impossible dates reported rather than raised."""

from __future__ import annotations

from datetime import date

import pytest

from core.extraction.dates import find_dates, written_month_first
from core.extraction.text_dates import read_dates
from core.extraction.text_rules import read_text


@pytest.mark.parametrize(
    "raw",
    [
        "15 novembre 2026",
        "15 Novembre 2026",
        "15/11/2026",
        "15.11.2026",
        "15-11-2026",
        "15/11/26",
        "2026-11-15",
        "Nov 15, 2026",
        "November 15th, 2026",
        "15 Nov 2026",
        "15 Nov. 2026",
        "15-Nov-2026",
        "11/15/2026",
    ],
)
def test_formats(raw: str) -> None:
    found = find_dates(f"le {raw} à Paris")
    assert [d.value for d in found] == [date(2026, 11, 15)]


def test_premier_du_mois() -> None:
    assert [d.value for d in find_dates("1er mars 2026")] == [date(2026, 3, 1)]


def test_day_first_unless_us() -> None:
    assert find_dates("02/03/2026")[0].value == date(2026, 3, 2)
    assert find_dates("02/03/2026", month_first=True)[0].value == date(2026, 2, 3)


@pytest.mark.parametrize("raw", ["31/02/2026", "30 février 2026", "2026-02-30", "Feb 29, 2026"])
def test_impossible_dates_have_no_value(raw: str) -> None:
    found = find_dates(raw)
    assert len(found) == 1
    assert found[0].value is None


def test_reference_numbers_are_not_dates() -> None:
    assert find_dates("Réf 12.50.20 lot 99/99/9999") == []


def test_issue_due_and_period_are_told_apart() -> None:
    dates = read_dates(
        [
            "Facture n° 12 du 3 novembre 2026",
            "Date de livraison : 28/10/2026",
            "Période du 01/10/2026 au 31/10/2026",
            "À régler avant le 03/12/2026",
        ]
    )
    assert dates.issue_date is not None
    assert dates.issue_date.value == date(2026, 11, 3)
    assert dates.due_date is not None
    assert dates.due_date.value == date(2026, 12, 3)
    assert dates.period_start is not None
    assert dates.period_start.value == date(2026, 10, 1)
    assert dates.period_end is not None
    assert dates.period_end.value == date(2026, 10, 31)
    assert dates.warnings == ()


def test_english_labels() -> None:
    dates = read_dates(["Invoice date: 2 March 2026   Due date: 1 April 2026"])
    assert dates.issue_date is not None
    assert dates.issue_date.value == date(2026, 3, 2)
    assert dates.due_date is not None
    assert dates.due_date.value == date(2026, 4, 1)


def test_a_page_that_writes_month_first_elsewhere_is_read_month_first() -> None:
    # A euro invoice in English: "11/17/2017" can only be November 17th, so "11/03/2017"
    # on the same page is November 3rd, not March 11th.
    data = read_text(
        "Invoice FA-2017-0008\nInvoice Date 11/03/2017\nDue Date 12/03/2017\n"
        "SEPA Wire transfer 11/17/2017 623.00 €\nTotal 2,076.76 €"
    )
    assert data.issue_date is not None
    assert data.issue_date.value == date(2017, 11, 3)
    assert data.due_date is not None
    assert data.due_date.value == date(2017, 12, 3)


def test_a_page_that_writes_day_first_elsewhere_is_read_day_first_even_in_dollars() -> None:
    data = read_text("Invoice 42\nInvoice date 03/04/2024\nPaid on 17/04/2024\nTotal $120.00")
    assert data.issue_date is not None
    assert data.issue_date.value == date(2024, 4, 3)


def test_a_page_with_both_orders_falls_back_to_its_currency() -> None:
    assert written_month_first(["17/04/2024", "04/17/2024"]) is None
    assert written_month_first(["03/04/2024"]) is None
