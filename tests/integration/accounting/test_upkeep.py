"""Between uses: tokens refreshed before they lapse, and the owners told once when the
link enters its warning window; a refresh brings it back to `active`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import select

from core.models import Integration, IntegrationState, Notification
from core.models.base import utcnow
from core.services.accounting import Accounting
from core.services.authorisations import complete_callback, connect
from core.services.integrations import open_grant, seal_grant
from core.services.upkeep import keep_tokens_fresh, warn_expiring
from scheduler.accounting_jobs import AccountingJobs
from tests.integration.accounting.conftest import FakeProvider, FakeSoftware, state_of
from tests.integration.conftest import World


async def _linked(acc: Accounting, world: World) -> int:
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    done = await complete_callback(
        acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
    )
    assert done.connecting.integration_id is not None
    return done.connecting.integration_id


async def test_owners_are_warned_once_inside_the_window_and_a_refresh_ends_it(
    acc: Accounting, world: World, fake: FakeProvider, software: FakeSoftware
) -> None:
    integration_id = await _linked(acc, world)
    assert await warn_expiring(acc) == 0
    async with acc.db.transaction() as session:
        integration = await session.get(Integration, integration_id)
        assert integration is not None
        grant = open_grant(vault=acc.vault, integration=integration)
        # Unused for 50 of its 60 days: inside the 15-day window.
        seal_grant(
            vault=acc.vault,
            integration=integration,
            grant=replace(grant, refresh_expires_at=utcnow() + timedelta(days=10)),
        )
        session.add(integration)

    assert await warn_expiring(acc) == 1
    assert await warn_expiring(acc) == 0
    async with acc.db.read() as session:
        integration = await session.get(Integration, integration_id)
        assert integration is not None
        assert integration.state == IntegrationState.EXPIRING
        alerts = (await session.exec(select(Notification))).all()
    assert [(a.kind, a.recipient_member_id) for a in alerts] == [
        ("integration_expiring", world.owner.id)
    ]

    jobs = AccountingJobs(acc)
    assert await jobs.keep_tokens_fresh() == 0  # the access token is not due yet
    assert await keep_tokens_fresh(acc, now=utcnow() + timedelta(minutes=25)) == 1
    async with acc.db.read() as session:
        integration = await session.get(Integration, integration_id)
        assert integration is not None
        assert integration.state == IntegrationState.ACTIVE
        assert open_grant(vault=acc.vault, integration=integration).refresh_token == "refresh-2"
