"""An OAuth software Courier has no app registered with is refused before any link is shown."""

from __future__ import annotations

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
