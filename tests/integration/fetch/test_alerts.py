"""Alerts that are true (issue #14): "found nothing" only when it means something.

A run looks back to the last success minus ten days, so a monthly supplier fetched
weekly brings nothing new most weeks. That is a plain success. The owner is alarmed only
when the site lists no invoice any more, where it listed some, or when no new invoice
came for longer than 1.5 times the supplier's own interval; and once per such episode.
The stories run against the real Demo Supplier over loopback, weeks passing on a
calendar the runner is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from bot.callbacks import ConnectionAction
from bot.i18n import Texts, languages
from bot.notify_render import Facts, Outgoing, render
from core.db import Database
from core.models import (
    Connection,
    ConnectionCreate,
    ConnectionRun,
    Notification,
    RunOutcome,
)
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.fetch import ConnectionRunner, FetchPolicy
from core.services.fetch_claims import request_fetch
from core.storage import LocalDocumentStore
from core.suppliers.http import HttpLimits
from core.suppliers.recipes import RecipeConnector, builtin_recipe
from core.vault import Vault
from courier.demo_supplier import (
    DemoAccount,
    DemoConfig,
    DemoInvoice,
    RunningDemo,
    start_demo_supplier,
)
from tests.integration.conftest import World
from tests.integration.fetch.conftest import Calendar, Site, invoice, make_runner

ACCOUNT = DemoAccount("compta@boulangerie.example", "croissant-42")
FAST = HttpLimits(connect_timeout=2.0, read_timeout=2.0, retries=1, backoff=0.01, max_wait=2.0)
ALARMS = {"connection_suspicious_empty", "connection_overdue", "connection_check_portal"}


def bill(day: date) -> DemoInvoice:
    return DemoInvoice(reference=f"FA-{day:%Y%m%d}", issued_on=day, amount=Decimal("118.80"))


def monthly(newest: date, count: int) -> list[DemoInvoice]:
    """A supplier that bills every 30 days, newest first as portals list them."""
    return [bill(newest - timedelta(days=30 * n)) for n in range(count)]


class Portal:
    """The supplier's site, its list changed by the test as the supplier issues bills."""

    def __init__(self, demo: RunningDemo) -> None:
        self.demo = demo
        self.bills: list[DemoInvoice] = []

    def show(self, bills: list[DemoInvoice]) -> None:
        self.bills = sorted(bills, key=lambda b: b.issued_on, reverse=True)
        config = self.demo.state.config
        account = replace(config.accounts[0], invoices=tuple(self.bills))
        self.demo.state.config = replace(config, accounts=(account,))

    def issue(self, day: date) -> None:
        self.show([bill(day), *self.bills])


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    demo = await start_demo_supplier(DemoConfig(accounts=(ACCOUNT,)))
    yield Portal(demo)
    await demo.close()


@pytest.fixture
def calendar() -> Calendar:
    return Calendar()


@pytest.fixture
def runner(
    db: Database, vault: Vault, store: LocalDocumentStore, portal: Portal, calendar: Calendar
) -> ConnectionRunner:
    recipe = builtin_recipe("demo_supplier")
    return ConnectionRunner(
        db=db,
        store=store,
        vault=vault,
        connector_for=lambda supplier: RecipeConnector(
            recipe, base_url=portal.demo.url, limits=FAST
        ),
        policy=FetchPolicy(jitter=timedelta(0)),
        clock=calendar,
    )


@pytest.fixture
async def connection(db: Database, vault: Vault, world: World) -> int:
    assert world.workspace.id is not None
    assert world.supplier.id is not None
    assert world.owner.id is not None
    async with db.transaction() as session:
        connection = await create_connection(
            session=session,
            vault=vault,
            data=ConnectionCreate(
                workspace_id=world.workspace.id,
                supplier_id=world.supplier.id,
                owner_member_id=world.owner.id,
                login=ACCOUNT.login,
                password=SecretStr(ACCOUNT.password),
            ),
            by=OPERATOR,
        )
    assert connection.id is not None
    return connection.id


async def press_fetch_now(db: Database, connection_id: int, calendar: Calendar) -> None:
    """What the chat's "Fetch now" does before the run: due now, someone is there."""
    async with db.transaction() as session:
        row = await session.get(Connection, connection_id)
        assert row is not None
        request_fetch(row, interactive_for=timedelta(minutes=15), now=calendar.now)


async def notices(db: Database) -> list[Notification]:
    async with db.read() as session:
        return list((await session.exec(select(Notification).order_by(col(Notification.id)))).all())


async def kinds(db: Database) -> list[str]:
    return [n.kind for n in await notices(db)]


async def runs(db: Database) -> list[ConnectionRun]:
    async with db.read() as session:
        query = select(ConnectionRun).order_by(col(ConnectionRun.id))
        return list((await session.exec(query)).all())


def told(notice: Notification) -> list[Outgoing]:
    """The notice as the owner reads it, in each language."""
    shown = [
        render(notice.kind, notice.payload, texts=Texts(lang), facts=Facts())
        for lang in languages()
    ]
    assert all(outgoing is not None for outgoing in shown)
    return [outgoing for outgoing in shown if outgoing is not None]


async def weekly(runner: ConnectionRunner, connection_id: int, calendar: Calendar) -> RunOutcome:
    """A week passes, and the scheduler's weekly run."""
    calendar.turn(7)
    return (await runner.run(connection_id)).outcome


async def test_fetch_now_twice_after_a_success_says_nothing_new_not_found_nothing(
    db: Database, runner: ConnectionRunner, connection: int, portal: Portal, calendar: Calendar
) -> None:
    # A monthly supplier whose last bill is three weeks old: outside the look-back window.
    portal.show(monthly(calendar.days_ago(20), 5))
    first = await runner.run(connection)
    assert (first.outcome, first.new) == (RunOutcome.SUCCESS, 5)

    await press_fetch_now(db, connection, calendar)
    again = await runner.run(connection)
    await press_fetch_now(db, connection, calendar)
    third = await runner.run(connection)

    assert [again.outcome, third.outcome] == [RunOutcome.SUCCESS, RunOutcome.SUCCESS]
    assert (again.found, again.new) == (0, 0)  # nothing in the window: the usual case
    assert await kinds(db) == [
        "documents_fetched",
        "connection_nothing_new",
        "connection_nothing_new",  # each press is answered
    ]
    answer = (await notices(db))[-1]
    assert answer.payload["last"] == calendar.days_ago(20).isoformat()
    assert answer.payload["every_days"] == 30
    for outgoing in told(answer):  # "nothing new since …; usually every ~30 days"
        assert calendar.days_ago(20).isoformat() in outgoing.text
        assert "30" in outgoing.text
        assert outgoing.markup is None  # nothing to fix
    assert [r.documents_listed for r in await runs(db)] == [5, 5, 5]


async def test_a_monthly_supplier_fetched_weekly_raises_no_alarm_between_bills(
    db: Database, runner: ConnectionRunner, connection: int, portal: Portal, calendar: Calendar
) -> None:
    start = calendar.today
    portal.show(monthly(start - timedelta(days=3), 4))
    outcomes = [(await runner.run(connection)).outcome]
    for week in range(1, 9):
        if week == 4:
            portal.issue(start + timedelta(days=27))  # the next month's bill
        outcomes.append(await weekly(runner, connection, calendar))

    assert outcomes == [RunOutcome.SUCCESS] * 9
    assert await kinds(db) == ["documents_fetched", "documents_fetched"]  # the bills, no alarm
    assert [(r.documents_new, r.documents_listed) for r in await runs(db)] == [
        (4, 4),
        *[(0, 4)] * 3,
        (1, 5),
        *[(0, 5)] * 4,
    ]


async def test_a_portal_that_lists_no_invoice_any_more_is_an_alarm_once(
    db: Database, runner: ConnectionRunner, connection: int, portal: Portal, calendar: Calendar
) -> None:
    portal.show(monthly(calendar.days_ago(20), 3))
    assert (await runner.run(connection)).new == 3
    assert await weekly(runner, connection, calendar) == RunOutcome.SUCCESS  # nothing new

    portal.show([])  # the account moved to another portal, say
    assert await weekly(runner, connection, calendar) == RunOutcome.EMPTY
    assert await weekly(runner, connection, calendar) == RunOutcome.EMPTY
    assert await kinds(db) == ["documents_fetched", "connection_suspicious_empty"]
    alarm = (await notices(db))[-1].payload
    assert (alarm["listed"], alarm["found"]) == (0, 0)

    # Pressing "Fetch now" while it lasts is answered, with the same alarm.
    await press_fetch_now(db, connection, calendar)
    assert (await runner.run(connection)).outcome == RunOutcome.EMPTY
    assert (await kinds(db))[-1] == "connection_suspicious_empty"

    # The list comes back, then empties again: a new episode, told again.
    portal.show(monthly(calendar.days_ago(5), 4))
    assert await weekly(runner, connection, calendar) == RunOutcome.SUCCESS
    portal.show([])
    assert await weekly(runner, connection, calendar) == RunOutcome.EMPTY
    told = [k for k in await kinds(db) if k in ALARMS]
    assert told == ["connection_suspicious_empty"] * 3
    assert [r.documents_listed for r in await runs(db)] == [3, 3, 0, 0, 0, 4, 0]


async def test_no_new_bill_for_longer_than_its_rhythm_allows_is_an_alarm_once(
    db: Database, runner: ConnectionRunner, connection: int, portal: Portal, calendar: Calendar
) -> None:
    # Bills every 30 days, the last one today: overdue after 45 days without one.
    portal.show(monthly(calendar.today, 4))
    assert (await runner.run(connection)).new == 4
    outcomes = [await weekly(runner, connection, calendar) for _ in range(9)]

    # Days 7 to 42 are the usual wait; from day 49 it is late, and said once.
    assert outcomes == [RunOutcome.SUCCESS] * 6 + [RunOutcome.EMPTY] * 3
    assert await kinds(db) == ["documents_fetched", "connection_overdue"]
    overdue = [n for n in await notices(db) if n.kind == "connection_overdue"]
    assert overdue[0].payload["last"] == (calendar.today - timedelta(days=63)).isoformat()
    assert overdue[0].payload["every_days"] == 30
    assert overdue[0].payload["listed"] == 4  # the site still lists the old ones
    fetch_now = ConnectionAction(do="fetch", id=connection).pack()
    for outgoing in told(overdue[0]):
        assert overdue[0].payload["last"] in outgoing.text
        assert outgoing.markup is not None
        assert [b.callback_data for row in outgoing.markup.inline_keyboard for b in row] == [
            fetch_now
        ]

    # The bill finally comes: back to normal; a later silence would be a new episode.
    portal.issue(calendar.today)
    assert await weekly(runner, connection, calendar) == RunOutcome.SUCCESS
    assert (await kinds(db))[-1] == "documents_fetched"


async def test_too_little_history_is_never_called_late(
    db: Database, runner: ConnectionRunner, connection: int, portal: Portal, calendar: Calendar
) -> None:
    portal.show(monthly(calendar.today, 3))  # three bills: no rhythm to judge by yet
    await runner.run(connection)
    outcomes = [await weekly(runner, connection, calendar) for _ in range(12)]
    assert outcomes == [RunOutcome.SUCCESS] * 12
    assert await kinds(db) == ["documents_fetched"]


async def test_a_connector_that_cannot_count_its_list_is_judged_by_the_rhythm_only(
    db: Database,
    vault: Vault,
    store: LocalDocumentStore,
    connection: int,
    site: Site,
    calendar: Calendar,
) -> None:
    runner = make_runner(db, vault, store, site, clock=calendar)
    site.tells_listed = False
    site.invoices = [invoice(f"FA-{n}", calendar.days_ago(20 + 30 * n)) for n in range(4)]
    assert (await runner.run(connection)).new == 4  # the full list: what came is what it lists
    site.invoices = []
    # Nothing in the window, and nothing said about the rest of the list: no alarm.
    assert await weekly(runner, connection, calendar) == RunOutcome.SUCCESS
    assert [r.documents_listed for r in await runs(db)] == [4, None]
    assert await kinds(db) == ["documents_fetched"]


def _payloads(rows: list[Notification], kind: str) -> list[dict[str, Any]]:
    return [n.payload for n in rows if n.kind == kind]


async def test_a_site_that_never_listed_anything_hints_at_the_portal(
    db: Database, runner: ConnectionRunner, connection: int, portal: Portal
) -> None:
    result = await runner.run(connection)
    assert (result.outcome, result.listed) == (RunOutcome.EMPTY, 0)
    [hint] = _payloads(await notices(db), "connection_check_portal")
    assert hint["listed"] == 0
