"""What the connection stories share: the outbox delivered to the chats as the notifier
does it, the state of a connection, and the Demo Supplier's mailed codes relayed by
Courier's own SMTP gateway and mail worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from sqlmodel import col, select

from bot.app import build_bot
from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.models import (
    Challenge,
    Connection,
    ConnectionState,
    FlowState,
    InboundMessage,
    Notification,
)
from courier.demo_supplier.config import SmtpTarget
from mail.smtp import GatewayHandler, start_gateway
from mail.worker import MailWorker
from tests.conftest import make_settings
from tests.integration.bot.conftest import TOKEN, Harness
from tests.waiting import eventually


async def deliver_outbox(harness: Harness) -> int:
    """Send what the outbox holds, as the notifier of `courier run` does: the person sees
    exactly the messages core queued, with their buttons."""
    settings = make_settings(
        harness.store.root, telegram_token=TOKEN, telegram_api_url=harness.api.url
    )
    bot = build_bot(settings)
    try:
        notifier = Notifier(bot=bot, db=harness.db, pace=Pace(chat_interval=0.0))
        return await notifier.deliver_due()
    finally:
        await bot.session.close()


async def outbox(harness: Harness) -> list[Notification]:
    async with harness.db.read() as session:
        return list((await session.exec(select(Notification).order_by(col(Notification.id)))).all())


async def connection(harness: Harness, login: str) -> Connection | None:
    async with harness.db.read() as session:
        return (await session.exec(select(Connection).where(Connection.login == login))).first()


def settled_in(
    harness: Harness, login: str, *states: ConnectionState
) -> Callable[[], Awaitable[Connection | None]]:
    """For `eventually`: the connection once in one of `states` with no run holding it."""

    async def check() -> Connection | None:
        found = await connection(harness, login)
        if found is None or found.state not in states or found.claimed_by is not None:
            return None
        return found

    return check


async def what_happened(harness: Harness, login: str) -> str:
    """The connection, its challenges and the inbound mail, for a story that timed out:
    enough to tell a code never mailed from one mailed and left unread."""
    async with harness.db.read() as session:
        found = await connection(harness, login)
        challenges = (await session.exec(select(Challenge))).all()
        messages = (await session.exec(select(InboundMessage))).all()
    lines = [
        f"connection: {found.state if found else None} error={found.last_error if found else None}"
        f" claimed_by={found.claimed_by if found else None}"
    ]
    lines += [f"challenge: {c.channel} {c.state} answered_via={c.answered_via}" for c in challenges]
    lines += [
        f"inbound: {m.state} reason={m.state_reason} attempts={m.attempts}"
        f" next={m.next_attempt_at} claimed_until={m.claimed_until} from={m.mail_from}"
        for m in messages
    ]
    return "\n".join(lines)


async def settle(harness: Harness, login: str, *states: ConnectionState, within: float) -> None:
    """Wait for the connection to settle in one of `states`; on a timeout, say what
    happened to it, its challenges and the mail."""
    try:
        await eventually(settled_in(harness, login, *states), f"{login} to settle", within)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{await what_happened(harness, login)}") from None


async def flow_rows(harness: Harness) -> list[FlowState]:
    async with harness.db.read() as session:
        return list((await session.exec(select(FlowState))).all())


@asynccontextmanager
async def mail_relay(harness: Harness) -> AsyncIterator[MailWorker]:
    """Courier's SMTP gateway and mail worker on loopback, and the Demo Supplier mailing
    its codes there (to <slug>@in.example.com, so the workspace must be named "Demo")."""
    settings = make_settings(harness.store.root, mail_domain="in.example.com", smtp_port=0)
    worker = MailWorker(db=harness.db, store=harness.store, vault=harness.vault, idle_seconds=0.2)
    handler = GatewayHandler(
        db=harness.db,
        store=harness.store,
        mail_domain="in.example.com",
        on_accepted=worker.wake,
        quota_bytes=settings.mail_quota_bytes,
    )
    server = await start_gateway(settings, handler)
    state = harness.demo.state
    state.config = replace(state.config, smtp=SmtpTarget(port=server.port))
    stop = asyncio.Event()
    reading = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await reading
        await server.close()
