"""Which connector serves which supplier. A plugin registers a factory under the catalog
key it serves; a supplier without one cannot be connected, only forwarded to."""

from __future__ import annotations

from collections.abc import Callable

from core.models import Supplier
from core.suppliers.connector import LayoutChanged, SupplierConnector

Factory = Callable[[Supplier], SupplierConnector]


class ConnectorMissing(LayoutChanged):
    """A connection whose supplier lost its connector (an older build, a removed recipe):
    broken for the operator to see, like a site whose pages changed."""

    key = "no_connector"


class ConnectorRegistry:
    def __init__(self) -> None:
        self._factories: dict[str, Factory] = {}

    def register(self, key: str, factory: Factory) -> None:
        self._factories[key] = factory

    def serves(self, key: str) -> bool:
        return key in self._factories

    def keys(self) -> frozenset[str]:
        return frozenset(self._factories)

    def connector_for(self, supplier: Supplier) -> SupplierConnector:
        factory = self._factories.get(supplier.key)
        if factory is None:
            raise ConnectorMissing(supplier.key)
        return factory(supplier)
