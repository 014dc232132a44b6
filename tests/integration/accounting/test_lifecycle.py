"""An OAuth2 software's link through its life: authorised with a single-use state,
expired (documents blocked, one alert), reconnected (the queue goes out once, in order),
refused when it reaches another company, rate-limited without changing state, and its
tokens rotated without ever losing the one that works. The software here is a scripted
stand-in: these tests are about the services above any provider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from core.accounting.errors import (
    AuthorizationStateInvalid,
    CompanyMismatch,
    RateLimited,
    Unavailable,
)
from core.accounting.provider import Company
from core.models import (
    AuthorizationRequest,
    Document,
    DocumentState,
    Integration,
    IntegrationState,
    Notification,
    Publication,
    PublicationState,
)
from core.models.base import utcnow
from core.services.accounting import Accounting, refresh_link
from core.services.authorisations import complete_callback, connect, reconnect
from core.services.integrations import current_integration, open_grant, read_tokens
from core.services.publishing import publish_document, retry_due
from core.services.rules import set_rule
from tests.integration.accounting.conftest import (
    FakeProvider,
    FakeSoftware,
    FlakyVault,
    VaultDown,
    add_document,
    expired,
    state_of,
)
from tests.integration.conftest import World


async def _link(acc: Accounting, world: World) -> int:
    """The owner connects the fake software and comes back through the callback."""
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    outcome = await complete_callback(
        acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
    )
    assert outcome.connecting.state == IntegrationState.ACTIVE
    assert outcome.connecting.integration_id is not None
    async with acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="606100",
            tax_rate_code="FR_200",
        )
    return outcome.connecting.integration_id


async def _integration(acc: Accounting, integration_id: int) -> Integration:
    async with acc.db.read() as session:
        integration = await session.get(Integration, integration_id)
        assert integration is not None
        return integration


async def test_the_callback_accepts_its_own_state_once_and_nothing_else(
    acc: Accounting, world: World, fake: FakeProvider
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    state = state_of(started.authorization_url)

    with pytest.raises(AuthorizationStateInvalid) as wrong:
        await complete_callback(acc, params={"code": "good-code", "state": state + "x"})
    assert wrong.value.params == {"reason": "unknown_state"}

    done = await complete_callback(acc, params={"code": "good-code", "state": state})
    assert done.workspace_id == world.workspace.id
    assert done.connecting.state == IntegrationState.ACTIVE

    with pytest.raises(AuthorizationStateInvalid) as replayed:
        await complete_callback(acc, params={"code": "good-code", "state": state})
    assert replayed.value.params == {"reason": "state_already_used"}

    async with acc.db.read() as session:
        request = (await session.exec(select(AuthorizationRequest))).one()
        # Neither the state nor the PKCE verifier is stored in clear.
        assert state not in request.state_hash
        assert "verifier-secret" not in (request.code_verifier_sealed or "")
        integrations = (await session.exec(select(Integration))).all()
    assert len(integrations) == 1


async def test_an_expired_state_is_refused(
    acc: Accounting, world: World, fake: FakeProvider
) -> None:
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    async with acc.db.transaction() as session:
        request = (await session.exec(select(AuthorizationRequest))).one()
        request.expires_at = utcnow() - timedelta(seconds=1)
        session.add(request)
    with pytest.raises(AuthorizationStateInvalid) as late:
        await complete_callback(
            acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
        )
    assert late.value.params == {"reason": "state_expired"}


async def test_expiry_blocks_documents_alerts_once_and_reconnecting_publishes_them_in_order(
    acc: Accounting, world: World, fake: FakeProvider, software: FakeSoftware
) -> None:
    integration_id = await _link(acc, world)
    assert world.workspace.id is not None
    documents = [await add_document(acc, world, name=f"edf-{n}.pdf") for n in range(3)]
    # The authorisation is gone: the call fails, and so does the refresh it triggers.
    software.fail_next = [expired()]
    software.fail_refresh = [expired()]

    outcomes = [
        await publish_document(acc, workspace_id=world.workspace.id, document_id=d)
        for d in documents
    ]

    assert [(o.state, o.reason) for o in outcomes] == [("blocked", "integration_expired")] * 3
    assert software.bills == {}
    assert (await _integration(acc, integration_id)).state == IntegrationState.EXPIRED
    async with acc.db.read() as session:
        alerts = (await session.exec(select(Notification))).all()
        states = {
            d.id: (d.state, d.state_reason) for d in (await session.exec(select(Document))).all()
        }
    assert len(alerts) == 1
    assert alerts[0].kind == "integration_expired"
    assert alerts[0].payload["documents_waiting"] == 3
    assert alerts[0].payload["action"] == "reconnect"
    assert set(states.values()) == {(DocumentState.BLOCKED, "integration_expired")}

    # A reconnect that reaches another company is refused and changes nothing.
    software.company = Company("tenant-2", "Other SARL")
    started = await reconnect(acc, workspace_id=world.workspace.id, actor=world.owner.id)
    assert started.authorization_url is not None
    with pytest.raises(CompanyMismatch):
        await complete_callback(
            acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
        )
    assert (await _integration(acc, integration_id)).state == IntegrationState.EXPIRED
    assert software.bills == {}

    # The same company: active again, and the queue goes out once each, in order.
    software.company = Company("tenant-1", "Dupont SARL")
    started = await reconnect(acc, workspace_id=world.workspace.id, actor=world.owner.id)
    assert started.authorization_url is not None
    await complete_callback(
        acc, params={"code": "good-code", "state": state_of(started.authorization_url)}
    )
    assert (await _integration(acc, integration_id)).state == IntegrationState.ACTIVE
    assert software.published_order == documents
    again = await publish_document(acc, workspace_id=world.workspace.id, document_id=documents[0])
    assert again.state == "published"
    assert software.published_order == documents
    async with acc.db.read() as session:
        assert len((await session.exec(select(Notification))).all()) == 1
        published = (
            await session.exec(
                select(Publication).where(Publication.state == PublicationState.PUBLISHED)
            )
        ).all()
    assert len(published) == 3


async def test_a_401_that_a_refresh_cures_is_no_expiry(
    acc: Accounting, world: World, fake: FakeProvider, software: FakeSoftware
) -> None:
    integration_id = await _link(acc, world)
    assert world.workspace.id is not None
    document_id = await add_document(acc, world)
    software.fail_next = [expired()]

    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)

    assert outcome.state == "published"
    integration = await _integration(acc, integration_id)
    assert integration.state == IntegrationState.ACTIVE
    assert open_grant(vault=acc.vault, integration=integration).refresh_token == "refresh-2"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (RateLimited(provider="fake", retry_after=30), "rate_limited"),
        (Unavailable(provider="fake", reason="HTTP 503"), "unavailable"),
        (Unavailable(provider="fake", reason="malformed JSON"), "unavailable"),
    ],
    ids=["429", "5xx", "malformed-json"],
)
async def test_a_busy_or_broken_software_delays_the_bill_without_touching_the_link(
    acc: Accounting,
    world: World,
    fake: FakeProvider,
    software: FakeSoftware,
    failure: Exception,
    reason: str,
) -> None:
    integration_id = await _link(acc, world)
    assert world.workspace.id is not None
    document_id = await add_document(acc, world)
    software.fail_next = [failure]

    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)

    assert (outcome.state, outcome.reason) == ("waiting", reason)
    assert (await _integration(acc, integration_id)).state == IntegrationState.ACTIVE
    async with acc.db.read() as session:
        publication = (await session.exec(select(Publication))).one()
        assert publication.next_try_at is not None
        wait = publication.next_try_at - utcnow()
        document = await session.get(Document, document_id)
        assert document is not None
        assert document.state == DocumentState.INBOX
        assert (await session.exec(select(Notification))).all() == []
    assert timedelta(seconds=20) < wait <= timedelta(seconds=60)
    assert await retry_due(acc) == []  # not yet
    done = await retry_due(acc, now=utcnow() + timedelta(minutes=2))
    assert [(o.document_id, o.state) for o in done] == [(document_id, "published")]
    assert len(software.bills) == 1


async def test_the_newest_refresh_token_is_kept_and_a_failed_refresh_keeps_the_old_one(
    acc: Accounting, world: World, fake: FakeProvider, software: FakeSoftware
) -> None:
    integration_id = await _link(acc, world)
    first = open_grant(vault=acc.vault, integration=await _integration(acc, integration_id))
    assert first.refresh_token == "refresh-1"

    await refresh_link(acc, integration_id=integration_id, only_if_due=False)
    integration = await _integration(acc, integration_id)
    assert open_grant(vault=acc.vault, integration=integration).refresh_token == "refresh-2"
    tokens = read_tokens(vault=acc.vault, integration=integration)
    assert tokens is not None
    assert tokens["previous_refresh_token"] == "refresh-1"
    # Sealed at rest, never in clear in the row.
    assert "refresh-2" not in (integration.tokens_sealed or "")

    # The software answers 503 half-way: nothing is lost, the link stays active.
    software.fail_refresh = [Unavailable(provider="fake", reason="HTTP 503")]
    with pytest.raises(Unavailable):
        await refresh_link(acc, integration_id=integration_id, only_if_due=False)
    integration = await _integration(acc, integration_id)
    assert open_grant(vault=acc.vault, integration=integration).refresh_token == "refresh-2"
    assert integration.state == IntegrationState.ACTIVE

    # The software rotated but our write failed (the process died): the new token is
    # lost with the transaction, the previous one is still stored, and used next time.
    assert isinstance(acc.vault, FlakyVault)
    acc.vault.fail_seal = True
    with pytest.raises(VaultDown):
        await refresh_link(acc, integration_id=integration_id, only_if_due=False)
    integration = await _integration(acc, integration_id)
    assert open_grant(vault=acc.vault, integration=integration).refresh_token == "refresh-2"
    await refresh_link(acc, integration_id=integration_id, only_if_due=False)
    assert software.refresh_tokens_seen[-2:] == ["refresh-2", "refresh-2"]
    assert (
        open_grant(
            vault=acc.vault, integration=await _integration(acc, integration_id)
        ).refresh_token
        == f"refresh-{software.issued}"
    )


async def test_a_live_link_is_not_connected_twice(
    acc: Accounting, world: World, fake: FakeProvider
) -> None:
    from core.errors import IntegrationActive

    await _link(acc, world)
    assert world.workspace.id is not None
    with pytest.raises(IntegrationActive):
        await connect(
            acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
        )
    async with acc.db.read() as session:
        live = await current_integration(session=session, workspace_id=world.workspace.id)
        assert live is not None
        count = len((await session.exec(select(Integration).where(col(Integration.id) > 0))).all())
    assert count == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": None}, "missing_total"),
        ({"supplier": None}, "missing_supplier"),
        ({"day": None}, "missing_date"),
        ({"supplier": "Boulangerie Voisine"}, "missing_account"),
    ],
    ids=["no-amount", "no-supplier", "no-date", "no-rule"],
)
async def test_a_document_missing_what_a_bill_needs_waits_for_review_with_the_reason(
    acc: Accounting,
    world: World,
    fake: FakeProvider,
    software: FakeSoftware,
    changes: dict[str, object],
    reason: str,
) -> None:
    await _link(acc, world)
    assert world.workspace.id is not None
    document_id = await add_document(acc, world, **changes)  # type: ignore[arg-type]

    outcome = await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)

    assert (outcome.state, outcome.reason) == ("needs_review", reason)
    assert software.bills == {}
    async with acc.db.read() as session:
        document = await session.get(Document, document_id)
        assert document is not None
        assert (document.state, document.state_reason) == (DocumentState.NEEDS_REVIEW, reason)


async def test_no_token_verifier_or_state_reaches_the_logs_or_the_alerts(
    acc: Accounting,
    world: World,
    fake: FakeProvider,
    software: FakeSoftware,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    assert world.workspace.id is not None
    started = await connect(
        acc, workspace_id=world.workspace.id, actor=world.owner.id, provider_name="fake"
    )
    assert started.authorization_url is not None
    state = state_of(started.authorization_url)
    await complete_callback(acc, params={"code": "good-code", "state": state})
    async with acc.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=world.workspace.id,
            party_name="EDF Entreprises",
            account_code="606100",
        )
    document_id = await add_document(acc, world)
    software.fail_next = [expired()]
    software.fail_refresh = [Unavailable(provider="fake", reason="HTTP 502")]
    await publish_document(acc, workspace_id=world.workspace.id, document_id=document_id)
    async with acc.db.read() as session:
        alerts = [repr(n.payload) for n in (await session.exec(select(Notification))).all()]
        integrations = [repr(i) for i in (await session.exec(select(Integration))).all()]
    seen = caplog.text + "".join(alerts) + "".join(integrations)
    for secret in ("access-1", "refresh-1", "verifier-secret", state, "good-code"):
        assert secret not in seen
