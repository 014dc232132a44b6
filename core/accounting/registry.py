"""Providers by name, built from the settings, and what each is before it is built.

Each provider module exposes `build(settings) -> AccountingProvider`; it is imported only
when first asked for, so a missing optional dependency fails one provider, not Courier.
Its `ProviderInfo` (display name, kind of sign-in, lists, settings it needs) is declared
here beside it, so the chat can say which software this installation offers without
importing any of them. Tests point HTTP providers at their stand-ins through the
settings' URLs, or register a ready provider with `register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pydantic import SecretStr

from core.accounting.provider import AccountingProvider, AuthKind, ListKind, ProviderInfo
from core.config import Settings
from core.errors import CourierError
from core.limits import LimitStore, MemoryLimits, SharesLimits

ProviderFactory = Callable[[Settings], AccountingProvider]

_ALL_LISTS = frozenset(ListKind)

#: name → "module:function". The order is the order people see.
BUILT_IN: Mapping[str, str] = {
    "beancount": "core.accounting.providers.beancount:build",
    "xero": "core.accounting.providers.xero:build",
    "quickbooks": "core.accounting.providers.quickbooks:build",
    "pennylane": "core.accounting.providers.pennylane:build",
}

#: What each built-in is (tests/unit/accounting checks it against the provider built).
BUILT_IN_INFO: Mapping[str, ProviderInfo] = {
    "beancount": ProviderInfo(
        name="beancount",
        display_name="Beancount",
        auth_kind=AuthKind.LOCAL_FILE,
        list_kinds=frozenset({ListKind.ACCOUNTS, ListKind.SUPPLIERS, ListKind.TAX_RATES}),
    ),
    "xero": ProviderInfo(
        name="xero",
        display_name="Xero",
        auth_kind=AuthKind.OAUTH2,
        list_kinds=_ALL_LISTS,
        requires=("xero_client_id", "xero_client_secret"),
    ),
    "quickbooks": ProviderInfo(
        name="quickbooks",
        display_name="QuickBooks Online",
        auth_kind=AuthKind.OAUTH2,
        list_kinds=_ALL_LISTS,
        requires=("quickbooks_client_id", "quickbooks_client_secret"),
    ),
    "pennylane": ProviderInfo(
        name="pennylane",
        display_name="Pennylane",
        auth_kind=AuthKind.TOKEN,
        list_kinds=_ALL_LISTS,
        oauth_with=("pennylane_client_id", "pennylane_client_secret"),
    ),
}


@dataclass(frozen=True, slots=True)
class Offer:
    """A software as this installation offers it: available, or not set up yet."""

    info: ProviderInfo
    #: The settings still empty (names, for the operator's log; never shown in a chat).
    missing: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return not self.missing


class ProviderUnknown(CourierError):
    key = "provider_unknown"

    def __init__(self, *, provider: str, known: str) -> None:
        super().__init__(provider=provider, known=known)


class ProviderRegistry:
    """Builds each provider once and hands out the same instance afterwards."""

    def __init__(
        self,
        settings: Settings,
        factories: Mapping[str, str | ProviderFactory] | None = None,
        *,
        limits: LimitStore | None = None,
    ) -> None:
        self._settings = settings
        #: Where every provider built here counts its calls: the database, when several
        #: processes call the same companies (courier/runtime.py).
        self._limits: LimitStore = limits or MemoryLimits()
        self._factories: dict[str, str | ProviderFactory] = dict(factories or BUILT_IN)
        self._built: dict[str, AccountingProvider] = {}

    def names(self) -> list[str]:
        return list(self._factories)

    def info(self, name: str) -> ProviderInfo:
        """What `name` is, without building it when it is a built-in."""
        if name not in self._built and name in BUILT_IN_INFO:
            info = BUILT_IN_INFO[name]
            if info.oauth_with and all(
                _filled(getattr(self._settings, s, None)) for s in info.oauth_with
            ):
                return replace(info, auth_kind=AuthKind.OAUTH2)
            return info
        provider = self.get(name)
        return ProviderInfo(
            name=name,
            display_name=provider.display_name,
            auth_kind=provider.auth_kind,
            list_kinds=provider.list_kinds,
        )

    def offer(self, name: str) -> Offer:
        """`name` as offered here; ProviderUnknown for a software Courier does not know."""
        if name not in self._factories:
            raise ProviderUnknown(provider=name, known=", ".join(self._factories))
        info = self.info(name)
        missing = tuple(s for s in info.requires if not _filled(getattr(self._settings, s, None)))
        return Offer(info=info, missing=missing)

    def offers(self) -> list[Offer]:
        """Every software Courier knows, in the order people see, each with whether this
        installation is set up for it."""
        return [self.offer(name) for name in self._factories]

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
        # The HTTP providers keep their client as `api`; the factories take only the
        # settings, so the store is handed over here, once per provider.
        api = getattr(provider, "api", None)
        if isinstance(api, SharesLimits):
            api.use_limits(self._limits)
        self._built[name] = provider
        return provider

    async def aclose(self) -> None:
        """Close the HTTP clients the built providers hold."""
        for provider in self._built.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        self._built.clear()


def _filled(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value.strip()) if isinstance(value, str) else value is not None


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
