"""Measure (issue #14): publishing what is ready takes 2 or fewer actions. The bakery's
owner has three invoices ready; she sends /publish, presses Publish, and is told what was
written to her books. Every typed message and every press counts one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlmodel import select

from bot.i18n import Texts
from core.models import Document, DocumentSource, DocumentState
from core.services.authorisations import connect
from core.services.documents import IncomingDocument, ingest_document
from core.services.rules import set_rule
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.integration.accounting.conftest import LEDGER
from tests.integration.bot.conftest import Harness
from tests.integration.bot.test_bot_uploads import notifier

__all__ = ["notifier"]  # the fixture, delivering the outbox beside the bot

EN = Texts("en")
GOAL = 2


class Counted:
    """A person whose every message and press is counted."""

    def __init__(self, person: TelegramUser) -> None:
        self.person, self.actions = person, 0

    async def say(self, text: str) -> None:
        self.actions += 1
        await self.person.say(text)

    async def press(self, label: str, *, message: BotMessage) -> None:
        self.actions += 1
        await self.person.press(label, message=message)


async def test_publish_what_is_ready_in_two_actions(
    harness: Harness, notifier: None, tmp_path: Path
) -> None:
    bakery, code = await harness.workspace("Boulangerie")
    marie = await harness.member("Marie", code)
    assert bakery.id is not None
    ledger = tmp_path / "books" / "main.beancount"
    ledger.parent.mkdir()
    ledger.write_text(LEDGER, encoding="utf-8")
    await connect(
        harness.accounting(),
        workspace_id=bakery.id,
        actor=None,
        provider_name="beancount",
        secret=str(ledger),
    )
    async with harness.db.transaction() as session:
        await set_rule(
            session=session,
            workspace_id=bakery.id,
            party_name="Moulin Bio",
            account_code="Expenses:Supplies",
            check_lists=True,
        )
        for month in (9, 10, 11):
            await ingest_document(
                session=session,
                store=harness.store,
                incoming=IncomingDocument(
                    workspace_id=bakery.id,
                    source=DocumentSource.UPLOAD,
                    content=b"%PDF-1.4\n% moulin " + str(month).encode() + b"\n%%EOF\n",
                    filename=f"moulin-2026-{month:02}.pdf",
                    supplier_name="Moulin Bio",
                    issue_date=date(2026, month, 3),
                    total_amount=Decimal("60.00"),
                    currency="EUR",
                ),
            )

    owner = Counted(marie)
    await owner.say("/publish")
    ready = await marie.wait_for_reply()
    assert ready.text == EN("flows.publish.ready", count=3, suppliers="Moulin Bio")
    await owner.press(EN("flows.publish.option.publish", count=3), message=ready)
    assert (await marie.wait_for_reply()).text == EN("flows.publish.sending", count=3)
    report = await marie.wait_for_reply()
    assert report.text == EN("outcomes.report_written", count=3)

    async with harness.db.read() as session:
        documents = (await session.exec(select(Document))).all()
    assert {d.state for d in documents} == {DocumentState.PUBLISHED}
    assert ledger.read_text(encoding="utf-8").count("Moulin Bio") >= 3
    print(f"ACTIONS publish: {owner.actions} (goal <= {GOAL})", flush=True)
    assert owner.actions <= GOAL
