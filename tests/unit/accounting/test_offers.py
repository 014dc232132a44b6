"""Which accounting software an installation offers comes from the providers' own metadata:
each built-in's declared info is what the provider says of itself once built, and one
needing an app registered by the operator is offered only once its settings are filled."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.accounting.registry import BUILT_IN, BUILT_IN_INFO, ProviderRegistry, ProviderUnknown
from core.config import Settings


@pytest.mark.parametrize("name", list(BUILT_IN))
def test_the_declared_info_is_what_the_provider_says_of_itself(name: str) -> None:
    info = BUILT_IN_INFO[name]
    provider = ProviderRegistry(Settings(_env_file=None)).get(name)
    assert (info.name, info.display_name, info.auth_kind, info.list_kinds) == (
        provider.name,
        provider.display_name,
        provider.auth_kind,
        provider.list_kinds,
    )


def test_software_needing_an_app_is_offered_once_it_is_set_up() -> None:
    bare = ProviderRegistry(Settings(_env_file=None))
    assert [(o.info.name, o.available) for o in bare.offers()] == [
        ("beancount", True),
        ("xero", False),
        ("quickbooks", False),
        ("pennylane", True),
    ]
    assert bare.offer("xero").missing == ("xero_client_id", "xero_client_secret")

    half = Settings(_env_file=None, xero_client_id="app")
    assert ProviderRegistry(half).offer("xero").missing == ("xero_client_secret",)
    blank = Settings(_env_file=None, xero_client_id=" ", xero_client_secret=SecretStr(""))
    assert not ProviderRegistry(blank).offer("xero").available
    set_up = Settings(_env_file=None, xero_client_id="app", xero_client_secret=SecretStr("s"))
    assert ProviderRegistry(set_up).offer("xero").available


def test_an_unknown_software_is_no_offer() -> None:
    with pytest.raises(ProviderUnknown):
        ProviderRegistry(Settings(_env_file=None)).offer("sage")


def test_pennylane_signs_in_with_oauth_once_a_partner_app_is_set_up() -> None:
    bare = ProviderRegistry(Settings(_env_file=None))
    assert bare.offer("pennylane").info.auth_kind == "token"
    assert bare.get("pennylane").auth_kind == "token"
    set_up = Settings(
        _env_file=None,
        pennylane_client_id="partner",
        pennylane_client_secret=SecretStr("s3cret"),
    )
    registry = ProviderRegistry(set_up)
    offer = registry.offer("pennylane")
    assert offer.available
    assert offer.info.auth_kind == "oauth2"
    assert registry.get("pennylane").auth_kind == "oauth2"
    assert "s3cret" not in repr(registry.get("pennylane"))
    half = Settings(_env_file=None, pennylane_client_id="partner")
    assert ProviderRegistry(half).offer("pennylane").info.auth_kind == "token"
