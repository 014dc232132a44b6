"""The connectors this build of Courier ships, registered under their catalog keys.

The catalog's `connector.available` flag must say the same: a test checks both agree.
"""

from __future__ import annotations

from core.suppliers.api.digitalocean import DigitalOceanConnector
from core.suppliers.api.ovh import OvhConnector
from core.suppliers.api.scaleway import ScalewayConnector
from core.suppliers.registry import ConnectorRegistry


def build_registry() -> ConnectorRegistry:
    registry = ConnectorRegistry()
    registry.register("digitalocean", lambda supplier: DigitalOceanConnector())
    registry.register("ovhcloud", lambda supplier: OvhConnector())
    registry.register("scaleway", lambda supplier: ScalewayConnector())
    return registry
