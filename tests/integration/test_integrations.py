"""Accounting integrations: one live link per workspace, lists reloaded one by one, rules kept."""

from __future__ import annotations

import pytest

from core.db import Database
from core.errors import IllegalTransition, IntegrationActive, ListKindUnknown
from core.models import IntegrationState, ListKind
from core.services.integrations import (
    ListItem,
    current_integration,
    list_entries,
    list_loads,
    move_integration,
    parse_list_kind,
    read_tokens,
    replace_list,
    start_integration,
    store_tokens,
)
from core.services.rules import list_rules, set_rule
from core.vault import Vault
from tests.integration.conftest import World


async def test_lists_reload_one_at_a_time_and_tokens_are_sealed(
    db: Database, vault: Vault, world: World
) -> None:
    assert world.workspace.id is not None
    async with db.transaction() as session:
        integration = await start_integration(
            session=session, workspace_id=world.workspace.id, provider="xero"
        )
        store_tokens(
            vault=vault,
            integration=integration,
            tokens={"refresh_token": "rt-1"},
            access_expires_at=None,
            refresh_expires_at=None,
        )
        await replace_list(
            session=session,
            integration=integration,
            kind=ListKind.ACCOUNTS,
            items=[ListItem("606", "Achats non stockés"), ListItem("626", "Télécom")],
        )
        await replace_list(
            session=session,
            integration=integration,
            kind=ListKind.SUPPLIERS,
            items=[ListItem("S1", "EDF")],
        )
        move_integration(integration, IntegrationState.ACTIVE)
    assert "rt-1" not in (integration.tokens_sealed or "")
    assert read_tokens(vault=vault, integration=integration) == {"refresh_token": "rt-1"}
    assert integration.id is not None
    async with db.transaction() as session:
        await replace_list(
            session=session,
            integration=integration,
            kind=ListKind.SUPPLIERS,
            items=[ListItem("S1", "EDF"), ListItem("S2", "Orange")],
        )
        loads = {
            load.kind: load.count
            for load in await list_loads(session=session, integration_id=integration.id)
        }
        accounts = await list_entries(
            session=session, integration_id=integration.id, kind=ListKind.ACCOUNTS
        )
    assert loads == {ListKind.ACCOUNTS: 2, ListKind.SUPPLIERS: 2}
    assert [a.code for a in accounts] == ["606", "626"]


async def test_one_live_integration_per_workspace(db: Database, world: World) -> None:
    assert world.workspace.id is not None
    async with db.transaction() as session:
        integration = await start_integration(
            session=session, workspace_id=world.workspace.id, provider="xero"
        )
    with pytest.raises(IntegrationActive):
        async with db.transaction() as session:
            await start_integration(
                session=session, workspace_id=world.workspace.id, provider="quickbooks"
            )
    async with db.transaction() as session:
        session.add(integration)
        move_integration(integration, IntegrationState.DISCONNECTED)
    async with db.transaction() as session:
        assert await current_integration(session=session, workspace_id=world.workspace.id) is None
        await start_integration(
            session=session, workspace_id=world.workspace.id, provider="quickbooks"
        )


def test_integration_states_refuse_illegal_moves() -> None:
    from core.models import Integration

    integration = Integration(workspace_id=1, provider="xero")
    with pytest.raises(IllegalTransition):
        move_integration(integration, IntegrationState.EXPIRED)
    with pytest.raises(ListKindUnknown):
        parse_list_kind("planets")


async def test_a_rule_is_one_per_supplier_whatever_the_spelling(db: Database, world: World) -> None:
    assert world.workspace.id is not None
    async with db.transaction() as session:
        await set_rule(
            session=session, workspace_id=world.workspace.id, party_name="EDF", account_code="606"
        )
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name=" edf ",
            account_code="6061",
            tax_rate_code="FR_200",
            auto_publish=True,
        )
        [rule] = await list_rules(session=session, workspace_id=world.workspace.id)
    assert (rule.account_code, rule.tax_rate_code, rule.auto_publish) == ("6061", "FR_200", True)
