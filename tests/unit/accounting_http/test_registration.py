"""An OAuth software Courier has no app registered with is refused before any link is shown."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from core.accounting.providers import quickbooks, xero
from core.config import Settings
from core.errors import ConfigInvalid


@pytest.mark.parametrize(
    ("module", "setting"),
    [(xero, "COURIER_XERO_CLIENT_ID"), (quickbooks, "COURIER_QUICKBOOKS_CLIENT_ID")],
)
async def test_no_client_id_means_no_link(module: object, setting: str) -> None:
    provider = module.build(Settings(_env_file=None))  # type: ignore[attr-defined]
    with pytest.raises(ConfigInvalid) as refused:
        await provider.start_authorization(state="s", redirect_uri="http://127.0.0.1/cb")
    assert refused.value.params["setting"] == setting


async def test_a_registered_app_gets_its_link() -> None:
    settings = Settings(
        _env_file=None, xero_client_id="app-id", xero_client_secret=SecretStr("app-secret")
    )
    start = await xero.build(settings).start_authorization(
        state="s", redirect_uri="http://127.0.0.1/cb"
    )
    assert "client_id=app-id" in start.url
    assert "app-secret" not in start.url


@pytest.mark.parametrize(
    ("setting", "asked", "not_asked"),
    [
        (None, "accounting.invoices", "accounting.transactions"),  # granular by default
        ("broad", "accounting.transactions", "accounting.invoices"),  # an app before 2 March 2026
    ],
)
async def test_the_xero_scopes_follow_the_setting(
    setting: str | None, asked: str, not_asked: str
) -> None:
    chosen = {"xero_scopes": setting} if setting else {}
    settings = Settings(
        _env_file=None,
        xero_client_id="app-id",
        xero_client_secret=SecretStr("app-secret"),
        **chosen,  # type: ignore[arg-type]
    )
    start = await xero.build(settings).start_authorization(
        state="s", redirect_uri="http://127.0.0.1/cb"
    )
    scopes = parse_qs(urlsplit(start.url).query)["scope"][0].split()
    assert asked in scopes
    assert not_asked not in scopes
