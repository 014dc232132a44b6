"""Which connector serves which supplier. A plugin registers a factory under the catalog
key it serves, with its kind and the invoice fields it gives; a supplier without one
cannot be connected, only forwarded to.

The catalog (`core/catalog/entries.json`) says the same thing from the user's side: an
entry is `available` exactly when a factory is registered here, and its `kind` is the
kind registered. `tests/unit/test_catalog_entries.py` checks both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from core.models import Supplier
from core.suppliers.connector import LayoutChanged, SupplierConnector
from core.suppliers.given_fields import GIVABLE_FIELDS

Factory = Callable[[Supplier], SupplierConnector]

#: How a connector reaches the supplier, as the catalog and `catalog search --json` say:
#: an official API, a scripted portal, a woob community module, mail only, or the demo.
ConnectorKind = Literal["api", "portal", "community", "email", "demo"]


class ConnectorMissing(LayoutChanged):
    """A connection whose supplier lost its connector (an older build, a removed recipe):
    broken for the operator to see, like a site whose pages changed."""

    key = "no_connector"


@dataclass(frozen=True, slots=True)
class Registration:
    factory: Factory
    kind: ConnectorKind
    #: Which of GIVABLE_FIELDS the connector's `InvoiceRef`s carry from the supplier's own
    #: data (`core.suppliers.given_fields.connector_reading` reads them as source
    #: "connector").
    gives: frozenset[str]


class ConnectorRegistry:
    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}

    def register(
        self,
        key: str,
        factory: Factory,
        *,
        kind: ConnectorKind = "api",
        gives: frozenset[str] = frozenset(),
    ) -> None:
        unknown = gives - GIVABLE_FIELDS
        if unknown:
            raise ValueError(f"{key}: a connector cannot give {sorted(unknown)}")
        self._registrations[key] = Registration(factory, kind, gives)

    def serves(self, key: str) -> bool:
        return key in self._registrations

    def keys(self) -> frozenset[str]:
        return frozenset(self._registrations)

    def kind_of(self, key: str) -> ConnectorKind | None:
        registration = self._registrations.get(key)
        return registration.kind if registration else None

    def gives(self, key: str) -> frozenset[str]:
        """The fields the connector of `key` gives; empty when there is none."""
        registration = self._registrations.get(key)
        return registration.gives if registration else frozenset()

    def connector_for(self, supplier: Supplier) -> SupplierConnector:
        registration = self._registrations.get(supplier.key)
        if registration is None:
            raise ConnectorMissing(supplier.key)
        return registration.factory(supplier)
