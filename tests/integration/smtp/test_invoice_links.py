"""Invoices that arrive as a link: downloaded from listed billing hosts, and only there.

Each story sends a real mail over SMTP to the gateway; its worker follows the link to
an HTTPS stand-in on loopback, which the test's resolver puts behind Stripe's names.
The attacks are mails whose link leads where Courier must not go, or to a server that
misbehaves: each ends as today's link-only message, with the reason kept and the
person told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from core.models import DocumentSource, InboundState
from mail.links import AddressPolicy, FetchLimits, HttpsLinkFetcher
from tests.integration.smtp.conftest import Gateway
from tests.standins.billing import (
    PDF,
    BillingSwitches,
    MapResolver,
    billing_app,
    running_https,
    tls_pair,
)

LOOPBACK = ("127.0.0.1",)
STRIPE_ON_LOOPBACK: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"invoice.stripe.com": LOOPBACK, "pay.stripe.com": LOOPBACK, "files.stripe.com": LOOPBACK}
)
#: The test-only setting: the stand-in lives on loopback.
TESTS_ONLY = ("127.0.0.0/8",)
HOSTED = "https://invoice.stripe.com/i/acct_1TestAcme/live_YWNjdF8xVGVzdA?s=em"


@dataclass
class Billing:
    port: int
    switches: BillingSwitches
    client_tls: Any

    def fetcher(
        self,
        table: Mapping[str, tuple[str, ...]] = STRIPE_ON_LOOPBACK,
        *,
        allow: tuple[str, ...] = TESTS_ONLY,
        limits: FetchLimits | None = None,
    ) -> HttpsLinkFetcher:
        return HttpsLinkFetcher(
            limits=limits or FetchLimits(seconds=20.0),
            policy=AddressPolicy.allowing(allow),
            resolver=MapResolver(table, self.port),
            tls=self.client_tls,
        )


@pytest.fixture
async def billing(tmp_path: Path) -> AsyncIterator[Billing]:
    server_tls, client_tls = tls_pair(tmp_path)
    switches = BillingSwitches()
    async with running_https(billing_app(switches), server_tls) as port:
        yield Billing(port, switches, client_tls)


def link_mail(*, to: str, link: str, label: str = "Download invoice") -> bytes:
    message = EmailMessage()
    message["From"] = "Acme SaaS <invoice+statements@stripe.com>"
    message["To"] = to
    message["Subject"] = "Your Acme SaaS invoice"
    message["Message-ID"] = f"<{abs(hash((to, link)))}@stripe.com>"
    message.set_content(f"Your invoice is ready.\n{label}: {link}\n")
    message.add_alternative(
        f'<html><body><p>Your invoice is ready.</p><a href="{link}">{label}</a></body></html>',
        subtype="html",
    )
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


async def test_a_stripe_invoice_link_becomes_a_document_that_keeps_its_url(
    gateway_factory: Callable[..., Any], billing: Billing
) -> None:
    gateway: Gateway = await gateway_factory(links=billing.fetcher())
    assert await gateway.send(link_mail(to=gateway.address, link=HOSTED)) == {}
    await gateway.worker.drain()

    [document] = await gateway.documents()
    assert document.source == DocumentSource.LINK
    assert document.source_url == HOSTED
    assert document.content_type == "application/pdf"
    assert document.filename == "Your Acme SaaS invoice.pdf"
    assert await gateway.store.get(document.sha256) == PDF
    # The hosted page's PDF, then Stripe's redirect to the signed file: both followed.
    assert billing.switches.requests == [
        ("pay.stripe.com", "/invoice/acct_1TestAcme/live_YWNjdF8xVGVzdA/pdf"),
        ("files.stripe.com", "/links/live_YWNjdF8xVGVzdA"),
    ]
    [message] = await gateway.inbound()
    assert message.state == InboundState.DELIVERED
    assert message.outcome["link_fetch"] == [{"url": HOSTED, "outcome": "fetched"}]
    [notice] = await gateway.notices()
    assert notice.kind == "documents_received"
    assert notice.payload["document_ids"] == [document.id]


async def test_a_receipt_page_leads_to_the_pdf_it_links(
    gateway_factory: Callable[..., Any], billing: Billing
) -> None:
    receipt = "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8xVGVzdEFjbWU"
    gateway: Gateway = await gateway_factory(links=billing.fetcher())
    await gateway.send(link_mail(to=gateway.address, link=receipt, label="Download receipt"))
    await gateway.worker.drain()

    [document] = await gateway.documents()
    assert (document.source, document.source_url) == (DocumentSource.LINK, receipt)
    assert await gateway.store.get(document.sha256) == PDF


def _private(address: str) -> dict[str, tuple[str, ...]]:
    return {**STRIPE_ON_LOOPBACK, "pay.stripe.com": (address,)}


@dataclass(frozen=True)
class Attack:
    link: str = HOSTED
    table: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: STRIPE_ON_LOOPBACK)
    allow: tuple[str, ...] = TESTS_ONLY
    file: str = "pdf"
    redirect_to: str | None = None
    limits: FetchLimits | None = None
    #: The hosts the stand-in hears from: refused names are never even connected to.
    reached: tuple[str, ...] = ()


PAY = ("pay.stripe.com",)
BOTH = ("pay.stripe.com", "files.stripe.com")
ATTACKS = {
    "plain_http": (Attack(link=HOSTED.replace("https://", "http://")), "not_https"),
    "host_not_listed": (
        Attack(link="https://billing.acme-saas.example/invoices/42/download"),
        "host_not_listed",
    ),
    "name_to_loopback_without_the_setting": (Attack(allow=()), "address_refused"),
    "name_to_private_network": (Attack(table=_private("10.0.0.8")), "address_refused"),
    "name_to_cloud_metadata": (Attack(table=_private("169.254.169.254")), "address_refused"),
    "name_to_a_public_and_a_private_address": (
        Attack(table={**STRIPE_ON_LOOPBACK, "pay.stripe.com": ("93.184.216.34", "10.1.2.3")}),
        "address_refused",
    ),
    "redirect_to_a_private_address": (
        Attack(table={**STRIPE_ON_LOOPBACK, "files.stripe.com": ("10.0.0.9",)}, reached=PAY),
        "address_refused",
    ),
    "redirect_to_a_host_not_listed": (
        Attack(redirect_to="https://files.attacker.example/{id}", reached=PAY),
        "host_not_listed",
    ),
    "redirect_to_plain_http": (
        Attack(redirect_to="http://files.stripe.com/links/{id}", reached=PAY),
        "not_https",
    ),
    "redirect_to_an_address_literal": (
        Attack(redirect_to="https://169.254.169.254/latest/meta-data/", reached=PAY),
        "host_not_listed",
    ),
    "oversized_body": (
        Attack(file="huge", limits=FetchLimits(max_bytes=256 * 1024, seconds=20.0), reached=BOTH),
        "too_large",
    ),
    "slow_body_past_the_limit": (
        Attack(file="slow", limits=FetchLimits(seconds=1.5), reached=BOTH),
        "too_slow",
    ),
    "html_served_as_pdf": (Attack(file="html_as_pdf", reached=BOTH), "not_a_document"),
}


@pytest.mark.parametrize(("attack", "reason"), list(ATTACKS.values()), ids=list(ATTACKS))
async def test_a_link_that_leads_where_it_must_not_stays_a_link(
    gateway_factory: Callable[..., Any], billing: Billing, attack: Attack, reason: str
) -> None:
    billing.switches.file = attack.file  # type: ignore[assignment]
    if attack.redirect_to is not None:
        billing.switches.redirect_to = attack.redirect_to
    fetcher = billing.fetcher(attack.table, allow=attack.allow, limits=attack.limits)
    gateway: Gateway = await gateway_factory(links=fetcher)
    await gateway.send(link_mail(to=gateway.address, link=attack.link))
    await gateway.worker.drain()

    # Nothing downloaded: the mail itself is kept with its link, as before links were fetched.
    [document] = await gateway.documents()
    assert document.source == DocumentSource.EMAIL
    assert document.source_url is None
    assert document.filename.endswith(".eml")
    assert document.fields["links"]["value"] == [attack.link]
    [message] = await gateway.inbound()
    assert message.state == InboundState.DELIVERED
    assert message.outcome["link_fetch"] == [{"url": attack.link, "outcome": reason}]
    [notice] = await gateway.notices()
    assert notice.kind == "invoice_behind_link"
    assert notice.payload["document_ids"] == [document.id]
    assert tuple(host for host, _ in billing.switches.requests) == attack.reached


async def test_the_fetched_invoice_is_durable_before_the_batch_writes_its_row(
    gateway_factory: Callable[..., Any], billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored with the batch's other files in one sync, outside the transaction: a slow
    disk never holds the database's writer while the row waits."""
    gateway: Gateway = await gateway_factory(links=billing.fetcher())
    assert await gateway.send(link_mail(to=gateway.address, link=HOSTED)) == {}
    writes: list[tuple[str, list[bytes]]] = []
    put_many = gateway.store.put_many

    async def one(data: bytes, *, sha256: str | None = None) -> Any:
        writes.append(("put", [data]))
        raise AssertionError("a file stored inside the batch's transaction")

    async def many(items: Any, *, sha256s: Any = None) -> Any:
        writes.append(("put_many", list(items)))
        return await put_many(items, sha256s=sha256s)

    monkeypatch.setattr(gateway.store, "put", one)
    monkeypatch.setattr(gateway.store, "put_many", many)
    await gateway.worker.drain()

    assert writes == [("put_many", [PDF])]
    [document] = await gateway.documents()
    assert document.source == DocumentSource.LINK
    assert await gateway.store.get(document.sha256) == PDF
