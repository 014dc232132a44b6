"""woob installed as `courier woob install` installs it, once per machine, and the Demo
Supplier with a woob module written for it (tests/woob_modules/courierdemo).

The virtualenv lives in pytest's cache folder and is reused while it is there: a fresh
machine (CI) installs woob from the registry once, in about 20 s; later runs take none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from core.suppliers.woob.connector import WoobConnector
from core.suppliers.woob.modules import WoobModule
from core.suppliers.woob.setup import WoobSetup
from courier.demo_supplier import (
    DemoAccount,
    DemoConfig,
    RunningDemo,
    sample_invoices,
    start_demo_supplier,
)

#: The tests' own woob modules: woob loads them from here, not from its repositories.
MODULES = Path(__file__).parents[2] / "woob_modules"

PLAIN = DemoAccount("compta@boulangerie.example", "croissant-42", invoices=sample_invoices(7))
SMS = DemoAccount(
    "sms@boulangerie.example", "pain-au-chocolat", two_factor="page", invoices=sample_invoices(3)
)
APP = DemoAccount(
    "app@boulangerie.example", "chausson-3", two_factor="app", invoices=sample_invoices(3)
)


@pytest.fixture(scope="session")
def woob(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> WoobSetup:
    cache = getattr(request.config, "cache", None)
    home = Path(cache.mkdir("woob")) if cache is not None else tmp_path_factory.mktemp("woob")
    setup = WoobSetup(home)
    setup.install()  # what `courier woob install` runs; a no-op once installed
    return setup


@pytest.fixture
async def demo() -> AsyncIterator[RunningDemo]:
    running = await start_demo_supplier(DemoConfig(accounts=(PLAIN, SMS, APP), page_size=5))
    yield running
    await running.close()


@pytest.fixture
async def woob_connector(
    woob: WoobSetup, demo: RunningDemo
) -> AsyncIterator[Callable[..., WoobConnector]]:
    """Connectors to the demo through the bridge; each is closed after the test."""
    made: list[WoobConnector] = []

    def make(*, attended: bool = True) -> WoobConnector:
        connector = demo_connector(woob, demo)
        connector.attended(attended)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        await connector.close()


def demo_connector(woob: WoobSetup, demo: RunningDemo) -> WoobConnector:
    module = WoobModule("courierdemo", {"base_url": demo.url})
    return WoobConnector(module, python=woob.python, woob_dir=woob.data, modules_path=MODULES)
