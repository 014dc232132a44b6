"""Field values and their JSON form: money stays Decimal, never float."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from core.extraction.einvoice import read_einvoice
from core.extraction.fields import Field, InvoiceData, invoice_from_dict, invoice_to_dict
from tests.unit.extraction.corpus import BAKERY
from tests.unit.extraction.xml_builders import build_ubl


def test_confidence_must_be_between_0_and_1() -> None:
    with pytest.raises(ValueError, match="confidence"):
        Field(Decimal(1), "text", 1.5)
    with pytest.raises(ValueError, match="confidence"):
        Field(Decimal(1), "text", -0.1)


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="source"):
        Field("x", "guesswork", 0.5)  # type: ignore[arg-type]


def test_values_are_frozen() -> None:
    field = Field("x", "text", 0.5)
    with pytest.raises(AttributeError):
        field.value = "y"  # type: ignore[misc]


def test_to_dict_is_plain_json_without_floats_for_money() -> None:
    data = read_einvoice(build_ubl(BAKERY))
    as_dict = invoice_to_dict(data)
    text = json.dumps(as_dict)
    assert as_dict["total_incl_tax"] == {"value": "721.06", "source": "ubl", "confidence": 1.0}
    assert as_dict["issue_date"] == {"value": "2026-11-15", "source": "ubl", "confidence": 1.0}
    reparsed = json.loads(text)
    money = [reparsed[n]["value"] for n in ("total_excl_tax", "total_tax", "total_incl_tax")]
    money += [v for line in reparsed["vat_lines"]["value"] for v in line.values()]
    assert money
    assert all(isinstance(v, str) for v in money)
    assert reparsed["warnings"] == []


def test_dict_round_trip() -> None:
    data = read_einvoice(build_ubl(BAKERY))
    data = dataclasses.replace(data, warnings=("w",))
    assert invoice_from_dict(json.loads(json.dumps(invoice_to_dict(data)))) == data


@pytest.mark.parametrize(
    "bad",
    [
        {"total_tax": {"value": 1.5, "source": "text", "confidence": 0.5}},
        {"issue_date": {"value": "2026-02-31", "source": "text", "confidence": 0.5}},
        {"currency": {"value": "EUR", "source": "nowhere", "confidence": 0.5}},
        {"currency": "EUR"},
        {"warnings": "totals_mismatch"},
    ],
)
def test_from_dict_rejects_bad_input(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails for its own reason
        invoice_from_dict(bad)


def test_empty_round_trip() -> None:
    assert invoice_from_dict(invoice_to_dict(InvoiceData())) == InvoiceData()
    assert invoice_to_dict(InvoiceData())["due_date"] is None
