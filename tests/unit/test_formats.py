"""Amounts, dates and times as a person reads them (issue #14): their language's way of
writing a number and a date, their workspace's clock, never `125.00` or a UTC ISO stamp."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from core.formats import (
    format_amount,
    format_date,
    format_datetime,
    plural_categories,
    plural_category,
    to_local,
)

NBSP = "\N{NO-BREAK SPACE}"
NNBSP = "\N{NARROW NO-BREAK SPACE}"


def test_an_amount_is_written_as_each_language_writes_money() -> None:
    assert format_amount(Decimal("125"), "EUR", locale="fr") == f"125,00{NBSP}€"
    assert format_amount(Decimal("125"), "EUR", locale="en") == "€125.00"
    assert format_amount(Decimal("1234.5"), "eur", locale="fr") == f"1{NNBSP}234,50{NBSP}€"
    assert format_amount(Decimal("-118.8"), "EUR", locale="fr-FR") == f"-118,80{NBSP}€"
    assert format_amount(Decimal("42"), "USD", locale="en") == "$42.00"


def test_an_amount_without_a_known_currency_is_the_number_alone() -> None:
    assert format_amount(Decimal("125"), None, locale="fr") == "125,00"
    assert format_amount(Decimal("125"), "", locale="en") == "125.00"
    assert format_amount(Decimal("125"), "€", locale="fr") == "125,00"


def test_a_day_is_written_in_the_language() -> None:
    assert format_date(date(2026, 4, 1), locale="fr") == "1 avr. 2026"
    assert format_date(date(2026, 4, 1), locale="fr", style="long") == "1 avril 2026"
    assert format_date(date(2026, 4, 1), locale="en") == "Apr 1, 2026"


def test_a_utc_instant_is_shown_in_the_workspace_zone() -> None:
    evening = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # summer time: Paris is UTC+2
    assert format_datetime(evening, locale="fr", timezone="Europe/Paris") == "1 avr. 2026, 00:30"
    assert format_datetime(evening, locale="en", timezone="Europe/Paris") == (
        f"Apr 1, 2026, 12:30{NNBSP}AM"
    )
    winter = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)  # winter time: UTC+1
    assert format_datetime(winter, locale="fr", timezone="Europe/Paris") == "15 janv. 2026, 12:00"


def test_a_naive_instant_is_utc_and_an_unknown_zone_shows_utc() -> None:
    naive = datetime(2026, 1, 15, 11, 0)
    assert to_local(naive, timezone="Europe/Paris").hour == 12
    nowhere = format_datetime(naive, locale="fr", timezone="Nowhere/Atlantis")
    assert nowhere == "15 janv. 2026, 11:00"


def test_an_unknown_language_writes_english() -> None:
    assert format_amount(Decimal("125"), "EUR", locale="xx") == "€125.00"
    assert format_date(date(2026, 4, 1), locale=None) == "Apr 1, 2026"


def test_plural_categories_follow_cldr() -> None:
    assert plural_categories(locale="fr") == {"one", "many", "other"}
    assert plural_categories(locale="en") == {"one", "other"}
    assert [plural_category(n, locale="fr") for n in (0, 1, 2, 1_000_000)] == [
        "one",
        "one",
        "other",
        "many",
    ]
    assert [plural_category(n, locale="en") for n in (0, 1, 2)] == ["other", "one", "other"]
