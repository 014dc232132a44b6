"""An invoice claiming to be from a known supplier, with nothing to vouch for it, is held."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import dkim

from core.models import DocumentState, InboundState
from mail.authentication import StaticResolver
from mail.pipeline import SPOOFED
from tests.integration.smtp.conftest import PDF, Gateway, dkim_key, invoice_mail

PEM, RECORD = dkim_key()
# EDF publishes a strict policy; its servers are not 127.0.0.1, where our test client sends from.
RESOLVER = StaticResolver(
    {
        "edf.fr": {"TXT": ["v=spf1 ip4:203.0.113.0/24 -all"]},
        "mail._domainkey.edf.fr": {"TXT": [RECORD]},
        "_dmarc.edf.fr": {"TXT": ["v=DMARC1; p=reject"]},
    }
)


async def test_a_forged_edf_invoice_is_held_for_review(gateway: Gateway) -> None:
    gateway.worker.resolver = RESOLVER
    await gateway.send(invoice_mail(to=gateway.address, sender="factures@edf.fr"))
    await gateway.worker.drain()
    [document] = await gateway.documents()
    assert (document.state, document.state_reason) == (DocumentState.NEEDS_REVIEW, SPOOFED)
    [message] = await gateway.inbound()
    assert message.state == InboundState.DELIVERED
    assert message.outcome["auth"]["dmarc"]["result"] == "fail"


async def test_a_signed_edf_invoice_forwarded_by_anyone_is_trusted(gateway: Gateway) -> None:
    gateway.worker.resolver = RESOLVER
    raw = invoice_mail(to=gateway.address, sender="factures@edf.fr")
    signature = dkim.sign(
        raw, b"mail", b"edf.fr", PEM, include_headers=[b"from", b"subject", b"to"]
    )
    await gateway.send(signature + raw)
    await gateway.worker.drain()
    [document] = await gateway.documents()
    assert document.state == DocumentState.INBOX


async def test_an_unknown_sender_is_not_flagged_by_this_rule(gateway: Gateway) -> None:
    gateway.worker.resolver = RESOLVER
    await gateway.send(invoice_mail(to=gateway.address, sender="compta@artisan-local.fr"))
    await gateway.worker.drain()
    [document] = await gateway.documents()
    assert document.state == DocumentState.INBOX


class SlowDns(StaticResolver):
    """A resolver that takes its time, as one does when a zone's servers are far or down."""

    def __init__(self, delay: float) -> None:
        super().__init__({})
        self.delay = delay
        self.asked = asyncio.Event()

    async def txt(self, name: str) -> list[str]:
        self.asked.set()
        await asyncio.sleep(self.delay)
        return await super().txt(name)


async def test_the_gateway_answers_while_the_worker_waits_on_a_slow_dns(
    gateway: Gateway,
) -> None:
    # Authentication's lookups happen before the worker's transaction, in threads of
    # their own: inside it, or in the threads that write the gateway's files, every 250
    # would wait on the DNS too. A dozen messages wait on it here, more than those threads.
    slow = SlowDns(delay=1.0)
    gateway.worker.resolver = slow
    for index in range(12):
        await gateway.send(invoice_mail(to=gateway.address, pdf=PDF + str(index).encode()))
    draining = asyncio.create_task(gateway.worker.drain())
    await asyncio.wait_for(slow.asked.wait(), timeout=10)
    other = invoice_mail(to=gateway.address, sender="compta@artisan-local.fr", pdf=PDF + b"-")

    def send() -> float:
        started = time.perf_counter()
        with gateway.client() as client:
            client.sendmail("compta@artisan-local.fr", [gateway.address], other)
        return time.perf_counter() - started

    with ThreadPoolExecutor(1) as sender:  # not one of the loop's threads, busy with DNS
        waited = await asyncio.get_running_loop().run_in_executor(sender, send)
    assert waited < 0.8
    assert not draining.done()  # the dozen's lookups were still pending
    await draining
    assert len(await gateway.documents()) == 13
    first, *_ = await gateway.inbound()
    assert first.outcome["auth"]["spf"]["result"] == "none"
