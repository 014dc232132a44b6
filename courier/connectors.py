"""The connectors this build of Courier ships, registered under their catalog keys.

The catalog's `connector.available` flag must say the same: a test checks both agree.
"""

from __future__ import annotations

from core.suppliers.api.digitalocean import DigitalOceanConnector
from core.suppliers.api.ovh import OvhConnector
from core.suppliers.api.scaleway import ScalewayConnector
from core.suppliers.http import Throttle
from core.suppliers.recipes.engine import RecipeConnector
from core.suppliers.recipes.format import builtin_recipe
from core.suppliers.registry import ConnectorRegistry

#: Where `courier run` serves the Demo Supplier by default.
DEMO_URL = "http://127.0.0.1:8765"


def build_registry(
    *, demo_url: str = DEMO_URL, throttle: Throttle | None = None
) -> ConnectorRegistry:
    registry = ConnectorRegistry()
    # One throttle for the process: the overall and per-supplier limits hold across runs.
    throttle = throttle or Throttle()
    demo = builtin_recipe("demo_supplier")
    registry.register(
        "demo-supplier",
        lambda supplier: RecipeConnector(demo, base_url=demo_url, throttle=throttle),
    )
    registry.register("digitalocean", lambda supplier: DigitalOceanConnector())
    registry.register("ovhcloud", lambda supplier: OvhConnector())
    registry.register("scaleway", lambda supplier: ScalewayConnector())
    return registry
