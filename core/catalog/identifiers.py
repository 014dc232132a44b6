"""The catalog suppliers' public company identifiers: VAT numbers and SIRENs.

They ship as ``identifiers.json`` next to this module, keyed by catalog key, apart from
``entries.json`` so that the catalog's own entries and these numbers are edited apart.
An invoice's VAT number or SIREN names its supplier more surely than any name on the page,
so a wrong number here would file invoices under the wrong supplier: every number is
checked on load (its check key, its catalog key, and that no two keys share it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.catalog.entries import CatalogDataError, load_entries, read_catalog_json
from core.extraction.identifiers import compact, is_valid_siren, is_valid_vat

_KINDS = frozenset({"vat", "siren"})


@dataclass(frozen=True, slots=True)
class CatalogIdentifiers:
    """Which catalog key each known VAT number and SIREN belongs to."""

    by_vat: Mapping[str, str]
    by_siren: Mapping[str, str]

    def key_for(self, *, vat: str | None = None, siren: str | None = None) -> str | None:
        """The catalog key of the supplier with this VAT number or SIREN, if known."""
        if vat:
            key = self.by_vat.get(compact(vat))
            if key is not None:
                return key
        if siren:
            return self.by_siren.get(compact(siren))
        return None


def parse_identifiers(
    raw: object, *, catalog_keys: Iterable[str], source: str = "identifiers"
) -> CatalogIdentifiers:
    """Validate decoded JSON ({key: {"vat": [...], "siren": [...]}}) and index it."""
    if not isinstance(raw, dict):
        raise CatalogDataError(f"{source}: expected an object keyed by catalog key")
    known = frozenset(catalog_keys)
    found: dict[str, dict[str, str]] = {"vat": {}, "siren": {}}
    checks = {"vat": is_valid_vat, "siren": is_valid_siren}
    for key, numbers in raw.items():
        if key.startswith("_"):
            continue  # a comment
        if key not in known:
            raise CatalogDataError(f"{source}: {key!r} is not a catalog key")
        if not isinstance(numbers, dict) or not set(numbers) <= _KINDS:
            raise CatalogDataError(f"{source}: {key!r} must map 'vat'/'siren' to lists")
        for kind, values in numbers.items():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise CatalogDataError(f"{source}: {key}.{kind} must be a list of strings")
            for value in values:
                number = compact(value)
                if not checks[kind](number):
                    raise CatalogDataError(f"{source}: {key}.{kind} {value!r} fails its check")
                owner = found[kind].setdefault(number, key)
                if owner != key:
                    raise CatalogDataError(f"{source}: {value!r} is both {owner!r} and {key!r}")
    return CatalogIdentifiers(by_vat=found["vat"], by_siren=found["siren"])


@functools.cache
def load_identifiers() -> CatalogIdentifiers:
    """The packaged ``identifiers.json``, checked against the packaged catalog."""
    raw, source = read_catalog_json("identifiers.json")
    keys = (entry.key for entry in load_entries())
    return parse_identifiers(raw, catalog_keys=keys, source=source)
