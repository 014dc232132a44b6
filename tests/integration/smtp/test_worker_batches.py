"""The worker keeps up with the gateway (issue #16, part 3): a burst of accepted mail is
read in batches, each filed in a few statements, and the worker starts as soon as the
gateway commits, without waiting for its poll."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import event

from core.models import InboundChannel, InboundState
from core.services.inbound import Envelope, Recipient, record_message
from mail import worker as worker_module
from mail.pipeline import SKIPPED
from tests.integration.smtp.conftest import Gateway, invoice_mail
from tests.integration.smtp.test_nothing_dropped import LIMITS_NOTE, many_parts
from tests.waiting import until


async def accepted(gateway: Gateway, raws: list[bytes]) -> None:
    """The mails as the gateway leaves them after its 250s: stored, and recorded at once."""
    async with gateway.db.transaction() as session:
        for raw in raws:
            stored = await gateway.store.put(raw)
            record_message(
                session=session,
                envelope=Envelope(
                    channel=InboundChannel.SMTP,
                    mail_from="factures@edf.fr",
                    sha256=stored.sha256,
                    size=stored.size,
                ),
                recipients=[Recipient(address=gateway.address, workspace_id=gateway.workspace.id)],
            )


def invoices(gateway: Gateway, count: int) -> list[bytes]:
    return [
        invoice_mail(to=gateway.address, name=f"f{i}.pdf", pdf=b"%%PDF-1.4 invoice %d" % i)
        for i in range(count)
    ]


@contextmanager
def statements(gateway: Gateway) -> Iterator[list[str]]:
    seen: list[str] = []

    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.split(None, 1)[0].upper()
        # A unit's own savepoint in SQLite's group commit (core/db/group_commit.py) rides
        # with its first statement, or is dropped: no work, and no trip, of its own.
        if verb not in ("SAVEPOINT", "RELEASE"):
            seen.append(verb)

    engine = gateway.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _count)


async def test_a_burst_is_filed_in_a_few_statements_for_the_whole_batch(
    gateway: Gateway,
) -> None:
    await accepted(gateway, invoices(gateway, 6))
    with statements(gateway) as seen:
        assert await gateway.worker.run_once() == 6
    messages = await gateway.inbound()
    assert [m.state for m in messages] == [InboundState.DELIVERED] * 6
    assert sorted(d.filename for d in await gateway.documents()) == [f"f{i}.pdf" for i in range(6)]
    assert len(await gateway.notices()) == 6
    # One message at a time took about twelve statements each (three UPDATEs of its row
    # among them); the batch now takes a handful for all six.
    assert seen.count("UPDATE") <= 2, seen
    assert seen.count("INSERT") <= 3, seen
    assert len(seen) <= 16, seen


async def test_the_same_invoice_twice_in_one_batch_is_one_document(gateway: Gateway) -> None:
    same = invoice_mail(to=gateway.address)
    await accepted(gateway, [same, same])
    await gateway.worker.run_once()
    [document] = await gateway.documents()
    first, second = await gateway.inbound()
    assert first.outcome["added"] == [document.id]
    assert second.outcome["already"] == [document.id]
    assert [n.kind for n in await gateway.notices()] == ["documents_received", "already_in_inbox"]


async def test_a_large_batch_is_parsed_aside_and_keeps_every_reason(gateway: Gateway) -> None:
    """From POOL_FROM messages a batch is parsed in worker processes: what they find is
    what the worker finds itself, a mail the parser could not fully read included."""
    raws = [*invoices(gateway, worker_module.POOL_FROM - 1), many_parts(gateway.address, 1000)]
    await accepted(gateway, raws)
    try:
        assert await gateway.worker.run_once() == worker_module.POOL_FROM
        assert gateway.worker._pool is not None  # the batch went to the pool
    finally:
        gateway.worker.close()
    *filed, skipped = await gateway.inbound()
    assert {m.state for m in filed} == {InboundState.DELIVERED}
    assert len(await gateway.documents()) == worker_module.POOL_FROM - 1
    assert (skipped.state, skipped.state_reason) == (InboundState.NO_DOCUMENT, SKIPPED)
    assert LIMITS_NOTE in skipped.outcome["skipped"]


async def test_the_worker_starts_when_the_gateway_commits_not_at_its_poll(
    gateway: Gateway,
) -> None:
    worker = gateway.worker  # the one the gateway wakes after each commit
    worker.idle_seconds = 60
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.1)  # the worker found nothing and sleeps until woken
        await gateway.send(invoice_mail(to=gateway.address))
        started = time.monotonic()
        while not await gateway.documents():
            assert time.monotonic() - started < 5, "the worker waited for its poll"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        worker.wake()
        await running


async def test_a_backlog_longer_than_a_batch_is_read_ahead_and_filed_once(
    gateway: Gateway,
) -> None:
    """While one full batch is settled the next is read: every message still goes
    through once, and stopping settles what was read ahead."""
    worker = gateway.worker
    worker.batch = 3
    await accepted(gateway, invoices(gateway, 7))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    started = time.monotonic()
    while len(await gateway.documents()) < 7:
        assert time.monotonic() - started < 5, "the backlog was not filed"
        await asyncio.sleep(0.02)
    stop.set()
    worker.wake()
    await running
    messages = await gateway.inbound()
    assert {m.state for m in messages} == {InboundState.DELIVERED}
    assert {m.attempts for m in messages} == {1}
    reported = sorted(n.payload["inbound_id"] for n in await gateway.notices())
    assert reported == sorted(m.id or 0 for m in messages)


async def test_the_parsers_start_with_the_worker_and_give_way_to_the_gateway(
    gateway: Gateway,
) -> None:
    """A first burst finds the parsing processes started, and on a busy machine the
    kernel runs the gateway that answers senders before them."""
    lower = min(19, os.getpriority(os.PRIO_PROCESS, 0) + worker_module.PARSER_NICENESS)

    def parsers() -> list[BaseProcess]:
        return [
            child
            for child in multiprocessing.active_children()
            if child.pid is not None and os.getpriority(os.PRIO_PROCESS, child.pid) == lower
        ]

    stop = asyncio.Event()
    running = asyncio.create_task(gateway.worker.run(stop))
    try:
        await until(parsers, "parsing processes at a lower priority, before any mail")
    finally:
        stop.set()
        gateway.worker.wake()
        await running
    assert not await gateway.inbound()
