"""SMTP gateway throughput against a bare aiosmtpd server, measured in the same run.

2,000 messages carrying a 100 KB PDF, from 20 concurrent clients (a separate process, so
the clients do not share the servers' interpreter). The bare server's handler only
answers 250. Courier runs as in production: each 250 waits for the raw message and its
row to be durable, while the worker reads the messages into the inbox at the same time.

- `smtp_ratio=` bare time / Courier's time to answer every message (target >= 0.6);
- `smtp_processed_ratio=` bare time / Courier's time until every message is in the inbox.

    python -m bench.smtp_gateway [--messages 2000] [--clients 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP
from sqlmodel import func, select

from core.config import Settings
from core.db import create_database
from core.db.migrate import upgrade
from core.models import Document, WorkspaceCreate
from core.services.workspaces import create_workspace
from core.storage import LocalDocumentStore
from core.vault import Vault, generate_key
from mail.authentication import StaticResolver
from mail.smtp import GatewayHandler, SessionCap, start_gateway
from mail.worker import MailWorker

DOMAIN = "bench.example.com"

CLIENT = r"""
import smtplib, sys, threading
from email.message import EmailMessage
port, messages, clients = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pdf = b"%PDF-1.4\n" + bytes(range(256)) * 400  # 100 KB
def mail(i):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "factures@edf.fr", "acme@bench.example.com", f"Facture {i}"
    m.set_content("ci-joint")
    data = pdf + str(i).encode()
    m.add_attachment(data, maintype="application", subtype="pdf", filename=f"f{i}.pdf")
    return m.as_bytes(policy=m.policy.clone(linesep="\r\n"))  # as an MTA sends it
bodies = [mail(i) for i in range(messages)]
print("ready", flush=True)
sys.stdin.readline()
def run(k):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
        for i in range(k, messages, clients):
            c.sendmail("factures@edf.fr", ["acme@bench.example.com"], bodies[i])
threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
print("done", flush=True)
"""


class Bare:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def _drive(port: int, messages: int, clients: int) -> float:
    """Start the client process, let it build its messages, then time the sending."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        str(port),
        str(messages),
        str(clients),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin
    assert process.stdout
    assert (await process.stdout.readline()).strip() == b"ready"
    start = time.perf_counter()
    process.stdin.write(b"go\n")
    await process.stdin.drain()
    assert (await process.stdout.readline()).strip() == b"done"
    await process.wait()
    return start


async def bare_round(messages: int, clients: int) -> float:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Bare(), hostname="bench", data_size_limit=50_000_000), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    start = await _drive(port, messages, clients)
    elapsed = time.perf_counter() - start
    server.close()
    await server.wait_closed()
    return elapsed


async def courier_round(messages: int, clients: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), mail_domain=DOMAIN, smtp_port=0)
        db = create_database(settings.db_url)
        await upgrade(db.engine)
        async with db.transaction() as session:
            await create_workspace(
                session=session, data=WorkspaceCreate(name="Acme"), invite_ttl=timedelta(hours=1)
            )
        store = LocalDocumentStore(settings.documents_dir)
        # Wired as `courier mail` wires it (courier/roles.py), sender authentication included,
        # against a resolver that answers at once: the bench measures Courier, not DNS.
        sessions = SessionCap(limit=settings.smtp_max_sessions)
        worker = MailWorker(
            db=db,
            store=store,
            vault=Vault([generate_key()]),
            idle_seconds=0.05,
            resolver=StaticResolver({}),
            busy=lambda: sessions.active > 0,
        )
        handler = GatewayHandler(db=db, store=store, mail_domain=DOMAIN, on_accepted=worker.wake)
        gateway = await start_gateway(settings, handler, sessions=sessions)
        stop = asyncio.Event()
        work = asyncio.create_task(worker.run(stop))
        start = await _drive(gateway.port, messages, clients)
        accepted = time.perf_counter() - start
        while True:  # until every message is processed into the inbox
            async with db.read() as session:
                done = await session.scalar(select(func.count()).select_from(Document))
            if done == messages:
                break
            await asyncio.sleep(0.02)
        processed = time.perf_counter() - start
        stop.set()
        worker.wake()
        await work
        await gateway.close()
        await db.dispose()
        return accepted, processed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bare: list[float] = []
    accepted: list[float] = []
    processed: list[float] = []
    for _ in range(args.rounds):  # alternate, so both see the same machine weather
        bare.append(await bare_round(args.messages, args.clients))
        answered, done = await courier_round(args.messages, args.clients)
        accepted.append(answered)
        processed.append(done)
    b, a, p = (statistics.median(x) for x in (bare, accepted, processed))
    n = args.messages
    print(f"messages={n} clients={args.clients} rounds={args.rounds}")
    print(f"bare_median_s={b:.2f} ({n / b:.0f} msg/s)")
    print(f"courier_answered_median_s={a:.2f} ({n / a:.0f} msg/s, each 250 durable)")
    print(f"courier_in_inbox_median_s={p:.2f} ({n / p:.0f} msg/s)")
    print(f"smtp_ratio={b / a:.2f} target>=0.6")
    print(f"smtp_processed_ratio={b / p:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
