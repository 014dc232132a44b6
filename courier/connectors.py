"""The connectors this build of Courier ships, registered under their catalog keys.

The catalog's `connector.available` flag and `connector.kind` must say the same: a test
checks both agree. Each registration also says which invoice fields the connector gives
from the supplier's own data (number, date, total, currency).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from core.config import Settings
from core.suppliers.api.aws import AwsConnector
from core.suppliers.api.azure import AzureConnector
from core.suppliers.api.digitalocean import DigitalOceanConnector
from core.suppliers.api.google_ads import GoogleAdsConfig, GoogleAdsConnector
from core.suppliers.api.meta import MetaAdsConnector
from core.suppliers.api.microsoft_ads import MicrosoftAdsConnector
from core.suppliers.api.mollie import MollieConnector
from core.suppliers.api.ovh import OvhConnector
from core.suppliers.api.qonto import QontoConnector
from core.suppliers.api.scaleway import ScalewayConnector
from core.suppliers.http import Throttle
from core.suppliers.oauth import SupplierSignIns
from core.suppliers.pool import HttpPool
from core.suppliers.recipes.engine import RecipeConnector
from core.suppliers.recipes.format import builtin_recipe
from core.suppliers.registry import ConnectorRegistry, Factory
from core.suppliers.woob.connector import WoobConnector
from core.suppliers.woob.modules import COMMUNITY, WoobModule
from core.suppliers.woob.setup import WoobSetup

#: Where `courier run` serves the Demo Supplier by default.
DEMO_URL = "http://127.0.0.1:8765"

#: What an API that lists each invoice with its number, date and total gives.
NUMBER_DATE_TOTAL = frozenset({"invoice_number", "issue_date", "total_incl_tax", "currency"})
#: DigitalOcean's list has no issue date (it is derived from the billing month) and not
#: always a number; Qonto knows its payments, not the receipts' own dates or numbers.
TOTAL_ONLY = frozenset({"total_incl_tax", "currency"})


def google_ads_config(settings: Settings) -> GoogleAdsConfig:
    return GoogleAdsConfig(
        client_id=settings.google_ads_client_id or "",
        client_secret=settings.google_ads_client_secret or SecretStr(""),
        developer_token=settings.google_ads_developer_token or SecretStr(""),
        api_url=settings.google_ads_api_url,
        authorize_url=settings.google_ads_authorize_url,
        token_url=settings.google_ads_token_url,
    )


def build_sign_ins(google_ads: GoogleAdsConfig) -> SupplierSignIns:
    """The suppliers whose connection the owner approves at the supplier (OAuth consent)
    instead of typing a password: the connect flow, the callback and the connectors."""
    return SupplierSignIns([google_ads.sign_in()])


def build_registry(
    *,
    demo_url: str = DEMO_URL,
    throttle: Throttle | None = None,
    pool: HttpPool | None = None,
    google_ads: GoogleAdsConfig | None = None,
    woob: WoobSetup | None = None,
    woob_modules: Path | None = None,
) -> ConnectorRegistry:
    """`pool`: the process's connections to the suppliers' hosts, which the portals' and
    the APIs' connectors share (each keeps its own otherwise); `woob`: its virtualenv,
    whose modules are registered as `community` connectors once it is installed (`courier
    woob install`); `woob_modules`, a folder of modules to load instead of woob's
    repositories (the tests' own)."""
    registry = ConnectorRegistry()
    # One throttle for the process: the overall and per-supplier limits hold across runs.
    throttle = throttle or Throttle()
    demo = builtin_recipe("demo_supplier")
    registry.register(
        "demo-supplier",
        lambda supplier: RecipeConnector(demo, base_url=demo_url, throttle=throttle, pool=pool),
        kind="demo",
    )
    registry.register("aws", lambda supplier: AwsConnector(pool=pool), gives=NUMBER_DATE_TOTAL)
    registry.register(
        "digitalocean",
        lambda supplier: DigitalOceanConnector(pool=pool),
        gives=TOTAL_ONLY,
    )
    ads = google_ads or GoogleAdsConfig()
    ads_sign_in = ads.sign_in()
    registry.register(
        "google-ads",
        lambda supplier: GoogleAdsConnector(
            sign_in=ads_sign_in,
            developer_token=ads.developer_token,
            base_url=ads.api_url,
            pool=pool,
        ),
        gives=NUMBER_DATE_TOTAL,
    )
    registry.register(
        "meta-ads", lambda supplier: MetaAdsConnector(pool=pool), gives=NUMBER_DATE_TOTAL
    )
    registry.register("ovhcloud", lambda supplier: OvhConnector(pool=pool), gives=NUMBER_DATE_TOTAL)
    # Qonto's receipts: the payment's amount, when the payment has that one receipt. The
    # date is the payment's, not the receipt's own, so it is not given as the issue date.
    registry.register("qonto", lambda supplier: QontoConnector(pool=pool), gives=TOTAL_ONLY)
    registry.register(
        "scaleway", lambda supplier: ScalewayConnector(pool=pool), gives=NUMBER_DATE_TOTAL
    )
    # Azure's totalAmount is only given for Microsoft Customer Agreement invoices; the
    # others come with their number, date and currency, and their total is read.
    registry.register("azure", lambda supplier: AzureConnector(pool=pool), gives=NUMBER_DATE_TOTAL)
    registry.register(
        "microsoft-advertising",
        lambda supplier: MicrosoftAdsConnector(pool=pool),
        gives=NUMBER_DATE_TOTAL,
    )
    # Mollie's invoices for its own fees: the number, issue date and gross amount listed.
    registry.register(
        "mollie", lambda supplier: MollieConnector(pool=pool), gives=NUMBER_DATE_TOTAL
    )
    if woob is not None and woob.installed:
        for key, module in COMMUNITY.items():
            # woob's bills carry their date, total, currency and, often, their number.
            registry.register(
                key,
                _woob_factory(woob, module, woob_modules),
                kind="community",
                gives=NUMBER_DATE_TOTAL,
            )
    return registry


def _woob_factory(woob: WoobSetup, module: WoobModule, modules: Path | None) -> Factory:
    return lambda supplier: WoobConnector(
        module, python=woob.python, woob_dir=woob.data, modules_path=modules
    )
