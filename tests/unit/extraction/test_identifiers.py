"""VAT numbers, SIREN/SIRET and IBANs are only reported when their check key holds."""

from __future__ import annotations

import pytest

from core.extraction.identifiers import (
    find_identifiers,
    is_valid_iban,
    is_valid_siren,
    is_valid_siret,
    is_valid_vat,
    siren_from_vat,
)


@pytest.mark.parametrize(
    "number",
    ["FR40303265045", "FR 40 303 265 045", "DE136695976", "IE6388047V", "GB980780684",
     "BE0403019261", "CHE-116.281.710 MWST"],
)  # fmt: skip
def test_valid_vat_numbers(number: str) -> None:
    assert is_valid_vat(number)


@pytest.mark.parametrize("number", ["FR41303265045", "FR40303265046", "DE136695977", "XX123"])
def test_invalid_vat_numbers(number: str) -> None:
    assert not is_valid_vat(number)


def test_siren_siret_luhn() -> None:
    assert is_valid_siren("303 265 045")
    assert not is_valid_siren("303 265 046")
    assert is_valid_siret("732 829 320 00074")
    assert not is_valid_siret("732 829 320 00075")


def test_iban_check() -> None:
    assert is_valid_iban("FR76 3000 6000 0112 3456 7890 189")
    assert not is_valid_iban("FR76 3000 6000 0112 3456 7890 188")


def test_siren_from_vat() -> None:
    assert siren_from_vat("FR40303265045") == "303265045"
    assert siren_from_vat("FR41303265045") is None
    assert siren_from_vat("DE136695976") is None


def test_supplier_numbers_skip_the_customer_block() -> None:
    lines = [
        "Client : Courier SARL",
        "TVA : FR44732829320",
        "",
        "Dupont SAS - TVA intracom FR40303265045",
        "IBAN FR76 3000 6000 0112 3456 7890 189 BIC AGRIFRPP",
    ]
    found = find_identifiers(lines, frozenset({0, 1}))
    assert found.supplier_vat is not None
    assert found.supplier_vat.value == "FR40303265045"
    assert found.supplier_siren is not None
    assert found.supplier_siren.value == "303265045"
    assert found.iban is not None
    assert found.iban.value == "FR7630006000011234567890189"
    assert found.warnings == ()


def test_iban_digits_are_not_read_as_a_vat_number() -> None:
    found = find_identifiers(
        ["N° TVA : voir ci-dessous  IBAN FR7630006000011234567890189"], frozenset()
    )
    assert found.supplier_vat is None
    assert "invalid_vat_number" not in found.warnings


def test_words_are_not_vat_numbers() -> None:
    found = find_identifiers(["NUMERO DE TVA FR40303265045 FRANCE 75001"], frozenset())
    assert found.supplier_vat is not None
    assert found.supplier_vat.value == "FR40303265045"
    assert found.warnings == ()
