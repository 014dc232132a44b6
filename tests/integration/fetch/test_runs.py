"""A connection's run, as the owner lives it: invoices arrive, codes are asked, failures explain."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from core.db import Database
from core.models import (
    Challenge,
    ChallengeChannel,
    ChallengeState,
    Connection,
    ConnectionRun,
    ConnectionState,
    Document,
    DocumentSource,
    Notification,
    RunOutcome,
    Workspace,
)
from core.models.base import utcnow
from core.services.challenges import submit_code
from core.services.fetch import ConnectionRunner, run_claimed
from core.services.fetch_claims import claim_due_connections, request_fetch
from core.storage import LocalDocumentStore
from core.suppliers.connector import (
    ActionRequired,
    LayoutChanged,
    LoginRefused,
    SupplierUnavailable,
)
from core.suppliers.registry import ConnectorRegistry
from core.vault import Vault
from tests.integration.fetch.conftest import QUICK, Site, invoice, make_runner
from tests.waiting import eventually

S = ConnectionState


async def _rows(db: Database, model: type[Any]) -> list[Any]:
    async with db.read() as session:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())


async def _connection(db: Database, connection: Connection) -> Connection:
    async with db.read() as session:
        row = await session.get(Connection, connection.id)
    assert row is not None
    return row


async def _interactive(db: Database, connection: Connection) -> None:
    async with db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        request_fetch(row, interactive_for=timedelta(minutes=15))


async def test_a_first_run_brings_every_invoice_once(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert (result.outcome, result.state, result.found, result.new) == (
        RunOutcome.SUCCESS,
        S.ACTIVE,
        3,
        3,
    )
    documents = await _rows(db, Document)
    assert sorted(d.external_ref for d in documents) == ["FA-1", "FA-2", "FA-3"]
    assert {d.source for d in documents} == {DocumentSource.CONNECTOR}
    assert {d.owner_member_id for d in documents} == {connection.owner_member_id}
    row = await _connection(db, connection)
    assert row.next_fetch_at is not None
    assert row.last_success_at is not None
    # A week later, moved if need be into the owner's waking hours (8:00-20:00 in Paris).
    wait = row.next_fetch_at - row.last_success_at
    assert timedelta(days=7) <= wait <= timedelta(days=7, hours=13)
    assert 8 <= row.next_fetch_at.astimezone(ZoneInfo("Europe/Paris")).hour < 20
    assert [n.kind for n in await _rows(db, Notification)] == ["documents_fetched"]
    # The next run looks back 10 days from the last success, finds the recent invoice
    # again, makes no duplicate of it, and reuses the saved session.
    again = await runner.run(connection.id)
    assert (again.found, again.new) == (1, 0)
    assert len(await _rows(db, Document)) == 3
    assert site.calls.count("login") == 1
    assert "restore" in site.calls
    runs = await _rows(db, ConnectionRun)
    assert [(r.outcome, r.documents_found, r.documents_new) for r in runs] == [
        (RunOutcome.SUCCESS, 3, 3),
        (RunOutcome.SUCCESS, 1, 0),
    ]
    assert all(r.finished_at is not None for r in runs)


async def test_a_start_date_is_honoured(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    async with db.transaction() as session:
        row = await session.get(Connection, connection.id)
        assert row is not None
        row.fetch_from = date.today() - timedelta(days=40)
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert site.since_asked == [date.today() - timedelta(days=40)]
    assert result.new == 2


async def test_a_code_typed_in_the_chat_reaches_the_waiting_run(
    db: Database, vault: Vault, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.code = "482913"
    await _interactive(db, connection)
    assert connection.id is not None
    run = asyncio.create_task(runner.run(connection.id))
    challenge = await _await_challenge(db)
    assert (await _connection(db, connection)).state == S.AWAITING_CODE
    assert challenge.masked_destination == "SMS to ••••12"
    async with db.transaction() as session:  # as the bot would, in its own process
        assert challenge.id is not None
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code="000000", via="chat"
        )
    await _await_open_again(db, challenge)  # the run tried the wrong code and asks again
    async with db.transaction() as session:
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code="482913", via="chat"
        )
    result = await run
    assert (result.state, result.new) == (S.ACTIVE, 3)
    kinds = [n.kind for n in await _rows(db, Notification)]
    assert kinds == ["code_requested", "code_wrong", "documents_fetched"]
    [done] = await _rows(db, Challenge)
    assert (done.state, done.code_sealed) == (ChallengeState.ACCEPTED, None)


async def _await_challenge(db: Database) -> Challenge:
    async def opened() -> Challenge | None:
        challenges: list[Challenge] = await _rows(db, Challenge)
        return challenges[0] if challenges else None

    return await eventually(opened, "a challenge to open")


async def _await_open_again(db: Database, challenge: Challenge) -> None:
    """A wrong code re-opens the challenge once the run has tried it."""

    async def reopened() -> bool:
        async with db.read() as session:
            current = await session.get(Challenge, challenge.id)
        return current is not None and current.state == ChallengeState.OPEN

    await eventually(reopened, "the challenge to open again")


async def test_a_background_run_never_makes_a_site_send_an_sms(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.code = "482913"
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert (result.state, result.error) == (S.NEEDS_USER, "code_needed")
    assert await _rows(db, Challenge) == []
    assert [n.kind for n in await _rows(db, Notification)] == ["connection_needs_user"]
    assert (await _connection(db, connection)).next_fetch_at is None


async def test_a_background_run_waits_for_a_code_mailed_to_courier_when_allowed(
    db: Database, vault: Vault, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.code, site.channel = "771204", ChallengeChannel.EMAIL
    async with db.transaction() as session:
        workspace = await session.get(Workspace, connection.workspace_id)
        assert workspace is not None
        workspace.relay_codes_from_mail = True
    assert connection.id is not None
    run = asyncio.create_task(runner.run(connection.id))
    challenge = await _await_challenge(db)
    assert challenge.id is not None
    async with db.transaction() as session:  # as the mail worker relays it
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code="771204", via="mail"
        )
    assert (await run).state == S.ACTIVE


async def test_three_wrong_codes_stop_before_the_account_locks(
    db: Database, vault: Vault, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.code = "482913"
    await _interactive(db, connection)
    assert connection.id is not None
    run = asyncio.create_task(runner.run(connection.id))
    challenge = await _await_challenge(db)
    assert challenge.id is not None
    for attempt in range(3):
        await _await_open_again(db, challenge)
        async with db.transaction() as session:
            await submit_code(
                session=session,
                vault=vault,
                challenge_id=challenge.id,
                code=f"00000{attempt}",
                via="chat",
            )
    result = await run
    assert (result.state, result.error) == (S.NEEDS_USER, "code_attempts_exhausted")
    assert site.calls.count("login") == 1
    assert sum(c.startswith("code:") for c in site.calls) == 3


async def test_an_unanswered_code_ends_in_needs_user(
    db: Database, vault: Vault, store: LocalDocumentStore, connection: Connection, site: Site
) -> None:
    site.code = "482913"
    await _interactive(db, connection)
    assert connection.id is not None
    short = replace(QUICK, challenge_ttl=timedelta(seconds=1))
    result = await make_runner(db, vault, store, site, short).run(connection.id)
    assert (result.state, result.error) == (S.NEEDS_USER, "code_timeout")
    [challenge] = await _rows(db, Challenge)
    assert challenge.state == ChallengeState.EXPIRED


async def test_each_failure_becomes_its_state(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    assert connection.id is not None
    cases = [
        (LoginRefused(), S.AUTH_FAILED, "login_refused"),
        (ActionRequired("terms"), S.ACTION_REQUIRED, "action_terms"),
        (LayoutChanged(), S.BROKEN, "layout_changed"),
        (SupplierUnavailable("http_503", retry_after=600), S.TEMP_ERROR, "supplier_unavailable"),
    ]
    for error, state, key in cases:
        site.login_error = error
        await _interactive(db, connection)  # the owner retries by hand each time
        result = await runner.run(connection.id)
        assert (result.state, result.error) == (state, key)
        row = await _connection(db, connection)
        assert (row.state, row.last_error) == (state, key)
    assert row.next_try_at is not None
    assert row.next_try_at - utcnow() > timedelta(seconds=590)  # Retry-After honoured
    kinds = [n.kind for n in await _rows(db, Notification)]
    assert kinds == ["connection_auth_failed", "connection_action_required", "connection_broken"]


async def test_an_error_from_the_lazy_list_is_still_mapped(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.list_error = SupplierUnavailable("timeout")
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert result.state == S.TEMP_ERROR
    assert (await _connection(db, connection)).failure_count == 1


async def test_an_html_page_served_as_a_pdf_is_not_a_document(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.html_for = {"FA-2"}
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert (result.outcome, result.new) == (RunOutcome.PARTIAL, 2)
    assert sorted(d.external_ref for d in await _rows(db, Document)) == ["FA-1", "FA-3"]
    row = await _connection(db, connection)
    assert row.last_success_at is None  # the cursor moves only on success


async def test_what_came_down_before_the_site_went_down_is_delivered_in_one_batch(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site, store: Any
) -> None:
    site.down_at = "FA-1"  # the oldest, asked for last
    batches: list[int] = []
    put_many = store.put_many

    async def counted(items: Any, **kwargs: Any) -> Any:
        batches.append(len(items))
        return await put_many(items, **kwargs)

    store.put_many = counted
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert (result.outcome, result.state, result.new) == (RunOutcome.ERROR, S.TEMP_ERROR, 2)
    documents = await _rows(db, Document)
    assert sorted(d.external_ref for d in documents) == ["FA-2", "FA-3"]
    assert all([await store.exists(d.sha256) for d in documents])
    assert batches == [2]  # one sync for the run's files, not one each
    # Back up: the next run downloads only what is missing.
    site.down_at, site.calls[:] = None, []
    again = await runner.run(connection.id)
    assert again.new == 1
    assert [c for c in site.calls if c.startswith("download")] == ["download FA-1"]


async def test_finding_nothing_says_why_it_may_be(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.invoices = []
    assert connection.id is not None
    assert (await runner.run(connection.id)).outcome == RunOutcome.EMPTY
    assert [n.kind for n in await _rows(db, Notification)] == ["connection_check_portal"]


async def test_claims_share_due_connections_and_expired_leases_are_taken_over(
    db: Database, runner: ConnectionRunner, connection: Connection
) -> None:
    lease = timedelta(minutes=5)
    async with db.transaction() as session:
        first = await claim_due_connections(session=session, worker="a", lease=lease)
    async with db.transaction() as session:
        second = await claim_due_connections(session=session, worker="b", lease=lease)
    assert ([c.id for c in first], second) == ([connection.id], [])
    async with db.transaction() as session:
        later = await claim_due_connections(
            session=session, worker="b", lease=lease, now=utcnow() + timedelta(minutes=6)
        )
    assert [c.id for c in later] == [connection.id]
    results = await run_claimed(runner, [c.id for c in later if c.id], concurrency=2)
    assert [r.state for r in results] == [S.ACTIVE]
    assert (await _connection(db, connection)).claimed_by is None


async def test_a_site_that_fails_while_checking_the_code_is_retried_later(
    db: Database, vault: Vault, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    site.code, site.code_error = "482913", SupplierUnavailable("http_502")
    await _interactive(db, connection)
    assert connection.id is not None
    run = asyncio.create_task(runner.run(connection.id))
    challenge = await _await_challenge(db)
    assert challenge.id is not None
    async with db.transaction() as session:
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code="482913", via="chat"
        )
    result = await run
    assert (result.state, result.error) == (S.TEMP_ERROR, "supplier_unavailable")
    assert (await _connection(db, connection)).state == S.TEMP_ERROR


async def test_a_supplier_without_a_connector_is_broken_not_stuck(
    db: Database, store: LocalDocumentStore, vault: Vault, connection: Connection
) -> None:
    runner = ConnectionRunner(
        db=db, store=store, vault=vault, connector_for=ConnectorRegistry().connector_for
    )
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert (result.state, result.error) == (S.BROKEN, "no_connector")
    assert (await _connection(db, connection)).claimed_by is None


async def test_a_bug_in_a_connector_settles_the_run_instead_of_leaving_it_syncing(
    db: Database, store: LocalDocumentStore, vault: Vault, connection: Connection
) -> None:
    def explode(supplier: object) -> Any:
        raise ZeroDivisionError

    runner = ConnectionRunner(db=db, store=store, vault=vault, connector_for=explode)
    assert connection.id is not None
    result = await runner.run(connection.id)
    assert (result.state, result.error) == (S.TEMP_ERROR, "internal")
    [run] = await _rows(db, ConnectionRun)
    assert run.finished_at is not None


async def test_finding_nothing_where_runs_found_bills_is_an_alert_not_a_success(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    assert connection.id is not None
    assert (await runner.run(connection.id)).new == 3
    site.invoices = []  # e.g. the account moved to another portal

    result = await runner.run(connection.id)

    assert (result.outcome, result.found) == (RunOutcome.EMPTY, 0)
    kinds = [n.kind for n in await _rows(db, Notification)]
    assert kinds == ["documents_fetched", "connection_suspicious_empty"]
    runs = await _rows(db, ConnectionRun)
    assert [(r.outcome, r.documents_found) for r in runs] == [
        (RunOutcome.SUCCESS, 3),
        (RunOutcome.EMPTY, 0),
    ]


async def test_two_bills_of_one_day_are_both_kept(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    today = date.today()
    site.invoices = [invoice("FA-10", today, "50.00"), invoice("FA-11", today, "50.00")]
    assert connection.id is not None

    result = await runner.run(connection.id)

    assert (result.found, result.new) == (2, 2)
    documents = await _rows(db, Document)
    assert sorted(d.external_ref for d in documents) == ["FA-10", "FA-11"]
    assert len({d.sha256 for d in documents}) == 2


async def test_the_same_bytes_under_two_references_make_one_document(
    db: Database, runner: ConnectionRunner, connection: Connection, site: Site
) -> None:
    # The sha256 dedup also holds inside one run: a portal listing one PDF twice.
    site.invoices = [invoice("FA-20", date.today()), invoice("FA-21", date.today())]
    site.same_bytes = True
    assert connection.id is not None

    result = await runner.run(connection.id)

    assert (result.found, result.new) == (2, 1)
    assert len(await _rows(db, Document)) == 1


async def test_a_code_typed_goes_to_the_site_at_once_not_at_the_next_poll(
    db: Database, vault: Vault, store: LocalDocumentStore, connection: Connection, site: Site
) -> None:
    """The waiting run is woken by the commit that answers its challenge (on PostgreSQL
    from any process): the person's code reaches the site while it is fresh."""
    site.code = "482913"
    runner = make_runner(db, vault, store, site, replace(QUICK, code_poll=30.0))
    await _interactive(db, connection)
    assert connection.id is not None
    run = asyncio.create_task(runner.run(connection.id))
    challenge = await _await_challenge(db)
    assert challenge.id is not None
    await asyncio.sleep(0.2)  # the run is waiting now, its poll 30 s away
    async with db.transaction() as session:
        await submit_code(
            session=session, vault=vault, challenge_id=challenge.id, code="482913", via="chat"
        )
    answered = time.monotonic()
    result = await asyncio.wait_for(run, 20)
    assert time.monotonic() - answered < 20
    assert (result.state, result.new) == (S.ACTIVE, 3)
