"""Fetch now, and hear about the invoices: the real bot, the runner, the Demo Supplier and
the notifier, through the Bot API stand-in. Marie presses "Fetch now"; the three invoices
the fetch brings come in ONE message naming the supplier, and she opens one. Fetched
again, the same invoices are not listed again: the press is answered "nothing new"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from aiogram import Bot
from pydantic import SecretStr
from sqlmodel import col, select

from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.formats import format_date
from core.models import Connection, ConnectionCreate, ConnectionRun, Document, Supplier
from core.permissions import OPERATOR
from core.services.connections import create_connection
from core.services.members import find_member
from tests.integration.bot.conftest import TOKEN, Harness, harness, harness_settings
from tests.integration.sandbox.conftest import client

__all__ = ["harness", "harness_settings"]  # the real bot, polling the stand-in, on both databases


@pytest.fixture
async def notifier(harness: Harness) -> AsyncIterator[Notifier]:
    bot: Bot = client(harness.api, TOKEN)
    yield Notifier(bot=bot, db=harness.db, pace=Pace())
    await bot.session.close()


async def test_fetch_now_brings_one_message_listing_the_invoices_and_one_opens(
    harness: Harness, notifier: Notifier
) -> None:
    workspace, code = await harness.workspace("Boulangerie Dupont")
    marie = await harness.member("Marie", code)
    async with harness.db.transaction() as session:
        supplier = (
            await session.exec(select(Supplier).where(Supplier.key == "demo-supplier"))
        ).one()
        assert workspace.id is not None
        assert supplier.id is not None
        owner = await find_member(
            session=session, workspace_id=workspace.id, telegram_user_id=marie.id
        )
        assert owner is not None
        assert owner.id is not None
        await create_connection(
            session=session,
            vault=harness.vault,
            data=ConnectionCreate(
                workspace_id=workspace.id,
                supplier_id=supplier.id,
                owner_member_id=owner.id,
                login="demo@example.com",
                password=SecretStr("demo"),
                fetch_from=date(2026, 9, 1),
            ),
            by=OPERATOR,
        )

    await marie.say("/connections")
    await marie.press(
        "1. Demo Supplier · demo@example.com · new", message=await marie.wait_for_reply()
    )
    await marie.press("Fetch now", message=await marie.wait_for_reply())
    assert "fetched in a moment" in (await marie.wait_for_reply()).text
    await harness.verifier.drain()
    assert await notifier.deliver_due() == 1

    news = await marie.wait_for_reply()
    lines = news.text.splitlines()
    assert lines[0] == "Demo Supplier: 3 new in the inbox."
    async with harness.db.read() as session:
        documents = list((await session.exec(select(Document).order_by(col(Document.id)))).all())
    assert len(documents) == 3
    assert lines[1:] == [
        # Dates as the person reads them (English: "Sep 15, 2026").
        f"{n}. {d.filename}, {format_date(d.issue_date or d.received_at.date(), locale='en')}"
        for n, d in enumerate(documents, start=1)
    ]
    assert all(d.supplier_id == supplier.id for d in documents)
    assert news.labels == ["Open 1", "Open 2", "Open 3"]

    await marie.press("Open 2", message=news)
    opened = await marie.wait_for_reply()
    assert opened.document is not None
    assert opened.document.file_name == documents[1].filename
    assert opened.document.data == await harness.store.get(documents[1].sha256)

    # The same invoices fetched again, by the monthly full sync (a month after this one):
    # all three found, none new, not listed again: the press is answered "nothing new".
    async with harness.db.transaction() as session:
        connection = (await session.exec(select(Connection))).one()
        assert connection.last_success_at is not None
        connection.last_success_at -= timedelta(days=31)
    await marie.press("Fetch now")
    assert "fetched in a moment" in (await marie.wait_for_reply()).text
    await harness.verifier.drain()
    heard = len(marie.messages)
    assert await notifier.deliver_due() == 1
    answer = await marie.wait_for_reply()
    assert "nothing new" in answer.text
    assert answer.labels == []  # no invoice to open
    async with harness.db.read() as session:
        assert len((await session.exec(select(Document))).all()) == 3
        run = (
            await session.exec(select(ConnectionRun).order_by(col(ConnectionRun.id).desc()))
        ).first()
        assert run is not None
        assert (run.documents_found, run.documents_new) == (3, 0)
    assert len(marie.messages) == heard + 1
