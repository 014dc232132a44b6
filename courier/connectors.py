"""The connectors this build of Courier ships, registered under their catalog keys."""

from __future__ import annotations

from core.suppliers.registry import ConnectorRegistry


def build_registry() -> ConnectorRegistry:
    return ConnectorRegistry()
