"""`courier inbound show` says what a mail set aside as decoration (issue #16): a mail with
a logo its HTML shows is sent over SMTP to the gateway, then the user asks, as typed."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

from sqlmodel import select

from core.models import InboundMessage
from courier.runtime import open_runtime
from mail.smtp import GatewayHandler, start_gateway
from mail.worker import MailWorker
from tests.conftest import make_settings
from tests.e2e.test_accounting_cli import Courier
from tests.e2e.test_accounting_cli import courier as courier  # the fixture
from tests.e2e.test_mail_set_aside import LOGO, invoice_with_logo


async def _deliver(home: Path) -> int:
    settings = make_settings(home / "var", mail_domain="in.example.com", smtp_port=0)
    async with open_runtime(settings) as rt:
        worker = MailWorker(db=rt.db, store=rt.store, vault=rt.vault)
        handler = GatewayHandler(
            db=rt.db, store=rt.store, mail_domain="in.example.com", on_accepted=worker.wake
        )
        server = await start_gateway(settings, handler)
        try:

            def send() -> None:
                with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                    client.sendmail(
                        "factures@plombier.example",
                        ["boulangerie-dupont@in.example.com"],
                        invoice_with_logo("boulangerie-dupont@in.example.com"),
                    )

            await asyncio.to_thread(send)
        finally:
            await server.close()
        await worker.drain()
        async with rt.db.read() as session:
            [row] = (await session.exec(select(InboundMessage))).all()
            assert row.id is not None
            return row.id


def test_inbound_show_lists_what_was_set_aside(courier: Courier, tmp_path: Path) -> None:
    assert courier("workspace", "create", "Boulangerie Dupont").code == 0
    ident = asyncio.run(_deliver(tmp_path))
    shown = courier("inbound", "show", "--workspace", "boulangerie-dupont", str(ident))
    assert shown.code == 0, shown.err
    assert "1 image(s) set aside as decoration:" in shown.out
    assert f"  logo.png  {len(LOGO)} bytes  shown by the mail's HTML (a logo or signature)" in (
        shown.out
    )
    data = courier(
        "inbound", "show", "--workspace", "boulangerie-dupont", str(ident), "--json"
    ).json()
    assert data["set_aside"] == [
        {"filename": "logo.png", "size": len(LOGO), "reason": "shown_in_html"}
    ]
    assert len(data["added"]) == 1
    other = courier("inbound", "show", "--workspace", "boulangerie-dupont", "999")
    assert other.code != 0
