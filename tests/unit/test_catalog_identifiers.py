"""The catalog's company identifiers are data, checked on load: a typo must fail loudly,
never file a supplier's invoices under another."""

from __future__ import annotations

import pytest

from core.catalog.entries import CatalogDataError
from core.catalog.identifiers import load_identifiers, parse_identifiers


def test_the_packaged_identifiers_load_and_find_their_supplier_in_any_spacing() -> None:
    identifiers = load_identifiers()
    assert identifiers.key_for(vat="FR 81 423 093 459") == "gandi"
    assert identifiers.key_for(siren="423 093 459") == "gandi"
    assert identifiers.key_for(vat="FR40303265045") is None


def test_a_vat_number_outranks_a_siren_of_another_supplier() -> None:
    identifiers = load_identifiers()
    assert identifiers.key_for(vat="DE812871812", siren="423093459") == "hetzner"


def test_a_number_failing_its_check_key_is_refused() -> None:
    with pytest.raises(CatalogDataError, match="fails its check"):
        parse_identifiers({"gandi": {"vat": ["FR81423093458"]}}, catalog_keys=["gandi"])


def test_a_key_outside_the_catalog_is_refused() -> None:
    with pytest.raises(CatalogDataError, match="not a catalog key"):
        parse_identifiers({"nobody": {"siren": ["423093459"]}}, catalog_keys=["gandi"])


def test_one_number_for_two_suppliers_is_refused() -> None:
    with pytest.raises(CatalogDataError, match="both"):
        parse_identifiers(
            {"gandi": {"siren": ["423093459"]}, "ovhcloud": {"siren": ["423093459"]}},
            catalog_keys=["gandi", "ovhcloud"],
        )
