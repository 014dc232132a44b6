"""The accounting parts a flow's work uses, from the interface's services.

The providers are service "providers": the process's one `ProviderRegistry`, built and
closed by the composition root (courier/runtime.py). A flow never builds one: a registry
per chat action would mean new HTTP clients and new call limiters each time, so a
software's per-company limits (Xero: 60 calls a minute, 5 at once) would be kept per
action instead of per company.
"""

from __future__ import annotations

from typing import Any

from core.accounting.registry import ProviderRegistry
from core.flows.flow import Services
from core.services.accounting import Accounting, make_accounting


def part(services: Services, name: str) -> Any:
    """A part the interface must provide; a clear failure at once when it does not."""
    found = services.get(name)
    if found is None:
        raise LookupError(f"this interface provides no {name!r} to flows")
    return found


def registry(services: Services) -> ProviderRegistry:
    """The process's provider registry (service "providers")."""
    providers: ProviderRegistry = part(services, "providers")
    return providers


def accounting(services: Services) -> Accounting:
    """An `Accounting` over the interface's parts. Build it in the step, so an interface
    lacking a part fails that step, not the work started after the commit. Nothing to
    close: the registry outlives it."""
    return make_accounting(
        providers=registry(services),
        settings=part(services, "settings"),
        db=part(services, "db"),
        vault=part(services, "vault"),
        store=part(services, "store"),
    )
