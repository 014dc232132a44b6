"""The Demo Supplier, and connectors to it through woob (installed by the `woob` fixture of
tests/conftest.py) with a woob module written for it (tests/woob_modules/courierdemo)."""

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
