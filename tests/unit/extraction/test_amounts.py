"""Money amounts in French and English notation, never confused with dates or rates."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.extraction.amounts import detect_currency, find_amounts, find_rate, parse_amount


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1 234,56 €", "1234.56"),
        ("1\u00a0234,56\u00a0€", "1234.56"),
        ("1\u202f234,56", "1234.56"),
        ("12\u202f345\u202f678,90 €", "12345678.90"),
        ("1.234,56", "1234.56"),
        ("€1,234.56", "1234.56"),
        ("1,234.56 EUR", "1234.56"),
        ("£99.00", "99.00"),
        ("$5", "5"),
        ("CHF 1'234.50", "1234.50"),
        ("19,8", "19.8"),
        ("-12,50 €", "-12.50"),
        ("0,99", "0.99"),
    ],
)
def test_parse_amount(raw: str, value: str) -> None:
    parsed = parse_amount(raw)
    assert parsed == Decimal(value)
    assert isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    "raw", ["15/11/2026", "15.11.2026", "2026-11-15", "20 %", "5,5%", "01 23 45 67 89", "2026", ""]
)
def test_non_amounts_are_not_money(raw: str) -> None:
    assert find_amounts(raw) == []


def test_currencies_are_attached_to_their_amounts() -> None:
    found = find_amounts("2 £650.00 £1,300.00 and 10,00 € and 7.00 USD")
    assert [(a.value, a.currency) for a in found] == [
        (Decimal("650.00"), "GBP"),
        (Decimal("1300.00"), "GBP"),
        (Decimal("10.00"), "EUR"),
        (Decimal("7.00"), "USD"),
    ]


@pytest.mark.parametrize(
    ("raw", "rate"),
    [("TVA 20 %", "20"), ("VAT @ 20%", "20"), ("TVA 5,5 %", "5.5"), ("Tax (8.875%)", "8.875")],
)
def test_find_rate(raw: str, rate: str) -> None:
    assert find_rate(raw) == Decimal(rate)


def test_detect_currency_prefers_the_totals() -> None:
    totals = find_amounts("Total 12,00 €")
    assert detect_currency("Prix en $ indicatif", totals) == ("EUR", 0.9)
    assert detect_currency("Montants en euros", []) == ("EUR", 0.7)
    assert detect_currency("no money here", []) is None
