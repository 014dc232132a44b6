"""Providers by name, built from the settings.

Each provider module exposes `build(settings) -> AccountingProvider`; it is imported only
when first asked for, so a missing optional dependency fails one provider, not Courier.
Tests point HTTP providers at their stand-ins through the settings' URLs, or register a
ready provider with `register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from core.accounting.provider import AccountingProvider
from core.config import Settings
from core.errors import CourierError

ProviderFactory = Callable[[Settings], AccountingProvider]

#: name → "module:function". The order is the order people see.
BUILT_IN: Mapping[str, str] = {
    "beancount": "core.accounting.providers.beancount:build",
    "xero": "core.accounting.providers.xero:build",
    "quickbooks": "core.accounting.providers.quickbooks:build",
    "pennylane": "core.accounting.providers.pennylane:build",
}


class ProviderUnknown(CourierError):
    key = "provider_unknown"

    def __init__(self, *, provider: str, known: str) -> None:
        super().__init__(provider=provider, known=known)


class ProviderRegistry:
    """Builds each provider once and hands out the same instance afterwards."""

    def __init__(
        self, settings: Settings, factories: Mapping[str, str | ProviderFactory] | None = None
    ) -> None:
        self._settings = settings
        self._factories: dict[str, str | ProviderFactory] = dict(factories or BUILT_IN)
        self._built: dict[str, AccountingProvider] = {}

    def names(self) -> list[str]:
        return list(self._factories)

    def register(self, name: str, provider: AccountingProvider | ProviderFactory) -> None:
        if isinstance(provider, AccountingProvider):
            self._built[name] = provider
            self._factories[name] = lambda _settings: provider
        else:
            self._built.pop(name, None)
            self._factories[name] = provider

    def get(self, name: str) -> AccountingProvider:
        if name in self._built:
            return self._built[name]
        factory = self._factories.get(name)
        if factory is None:
            raise ProviderUnknown(provider=name, known=", ".join(self._factories))
        if isinstance(factory, str):
            factory = _load(name, factory, known=", ".join(self._factories))
        provider = factory(self._settings)
        self._built[name] = provider
        return provider

    async def aclose(self) -> None:
        """Close the HTTP clients the built providers hold."""
        for provider in self._built.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        self._built.clear()


def _load(name: str, target: str, *, known: str) -> ProviderFactory:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise  # the provider exists but one of its dependencies is missing: say so loudly
        raise ProviderUnknown(provider=name, known=known) from err
    factory: ProviderFactory = getattr(module, attribute)
    return factory
