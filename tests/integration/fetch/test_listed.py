"""Each real connector says how many invoices the site lists, whatever the look-back window:
that count tells "nothing new this week" from "the site lists nothing any more"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from core.suppliers.api.digitalocean import DigitalOceanConnector
from core.suppliers.api.mollie import MollieConnector
from core.suppliers.api.ovh import OvhConnector
from core.suppliers.api.scaleway import ScalewayConnector
from core.suppliers.connector import Credentials, SupplierConnector
from core.suppliers.http import HttpLimits
from core.suppliers.recipes import RecipeConnector, builtin_recipe
from courier.demo_supplier import DemoAccount, DemoConfig, sample_invoices, start_demo_supplier
from tests.standins import digitalocean, mollie, ovh, scaleway
from tests.standins import running as serve

FUTURE = date(2099, 1, 1)  # a window past every invoice: nothing in it, the list still full


@dataclass(frozen=True, slots=True)
class Api:
    name: str
    app: Callable[[Sequence[Any]], web.Application]
    connector: Callable[[str], SupplierConnector]
    credentials: Credentials
    seeded: int  # the invoices (issued ones) the stand-in lists by default
    default: Sequence[Any]


APIS = [
    Api(
        "digitalocean",
        lambda invoices: digitalocean.create_app(invoices=invoices),
        lambda origin: DigitalOceanConnector(base_url=origin, per_page=2),
        Credentials("compta@boulangerie.fr", SecretStr(digitalocean.TOKEN)),
        len(digitalocean.SEEDED),
        digitalocean.SEEDED,
    ),
    Api(
        "ovh",
        lambda bills: ovh.create_app(bills=bills),
        lambda origin: OvhConnector(base_url=origin + ovh.PREFIX),
        Credentials(ovh.APPLICATION_KEY, SecretStr(f"{ovh.APPLICATION_SECRET}:{ovh.CONSUMER_KEY}")),
        len(ovh.SEEDED),
        ovh.SEEDED,
    ),
    Api(
        "scaleway",
        lambda invoices: scaleway.create_app(invoices=invoices),
        lambda origin: ScalewayConnector(base_url=origin, page_size=2),
        Credentials(scaleway.ORGANIZATION_ID, SecretStr(scaleway.SECRET_KEY)),
        sum(1 for invoice in scaleway.SEEDED if invoice.issued_date),  # drafts are no invoices
        scaleway.SEEDED,
    ),
    Api(
        "mollie",
        lambda invoices: mollie.create_app(invoices=invoices),
        lambda origin: MollieConnector(base_url=origin, limit=2),
        Credentials(mollie.ORGANIZATION, SecretStr(mollie.TOKEN)),
        len(mollie.SEEDED),
        mollie.SEEDED,
    ),
]


async def _listed(api: Api, invoices: Sequence[Any], since: date | None) -> tuple[int, int | None]:
    async with serve(api.app(invoices)) as origin:
        connector = api.connector(origin)
        try:
            await connector.login(api.credentials)
            assert connector.listed is None  # nothing listed yet: unknown
            refs = [ref async for ref in connector.invoices(since)]
            return len(refs), connector.listed
        finally:
            await connector.close()


@pytest.mark.parametrize("api", APIS, ids=[api.name for api in APIS])
async def test_an_api_counts_its_whole_list_whatever_the_window(api: Api) -> None:
    assert await _listed(api, api.default, None) == (api.seeded, api.seeded)
    assert await _listed(api, api.default, FUTURE) == (0, api.seeded)
    assert await _listed(api, (), FUTURE) == (0, 0)


async def test_a_portal_counts_the_rows_it_read_and_zero_only_for_an_empty_list() -> None:
    full = DemoAccount("compta@boulangerie.example", "croissant-42", invoices=sample_invoices(12))
    empty = DemoAccount("nouveau@boulangerie.example", "brioche-1")
    demo = await start_demo_supplier(DemoConfig(accounts=(full, empty), page_size=5))
    recipe = builtin_recipe("demo_supplier")
    limits = HttpLimits(connect_timeout=2.0, read_timeout=2.0, retries=1, backoff=0.01)
    try:
        seen: dict[tuple[str, date | None], tuple[int, int | None]] = {}
        for account in (full, empty):
            for since in (None, FUTURE):
                connector = RecipeConnector(recipe, base_url=demo.url, limits=limits)
                try:
                    await connector.login(Credentials(account.login, SecretStr(account.password)))
                    refs = [ref async for ref in connector.invoices(since)]
                    seen[account.login, since] = (len(refs), connector.listed)
                finally:
                    await connector.close()
    finally:
        await demo.close()
    assert seen == {
        (full.login, None): (12, 12),  # every page read
        (full.login, FUTURE): (0, 5),  # the first page is older than the window: paging stops
        (empty.login, None): (0, 0),
        (empty.login, FUTURE): (0, 0),
    }
