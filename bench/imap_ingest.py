"""IMAP ingest throughput against a real peer (getmail6) and a bare imap-tools fetch,
measured in the same run.

A private Dovecot (the test harness's) holds 1,000 messages, each with a ~20 KB PDF.

- The peer is getmail6, a mail retriever that, like Courier, keeps what it fetches: its
  `getmail` command with a generated rc file, SimpleIMAPRetriever on the same Dovecot,
  read_all, delivering each message into a Maildir in a temporary folder (fsynced, as
  Maildir delivery is). getmail is GPL-2, a benchmark tool only: it runs as its own
  process and Courier never imports it. Its time is the subprocess's wall time less the
  median time `getmail --version` takes, so the interpreter's start is not counted
  against it.

- The baseline is imap-tools' own fetch API, `fetch(bulk=50, mark_seen=False)`, with a
  message class that keeps each message's raw bytes in memory and parses nothing: the
  least a program does to hold every message (imap-tools logs in, searches, and fetches
  `BODY.PEEK[]` in bulks of 50).
- For context, the same fetch with imap-tools' default message class, which parses every
  message (and keeps no raw bytes), is timed too and compared on a line of its own.
- Courier's run is `poll_mailbox` of a mailbox added with history "all", on a fresh
  SQLite database and document store: each batch of 50 fetched with one UID FETCH, its
  files stored durably (`put_many`: written, synced, renamed, synced), recorded with
  one INSERT and the watermark in one transaction, then marked seen on the server.

The four alternate, `--rounds` times; medians are compared. Then each per-message cost
of Courier's run is measured on its own, on the same messages and the same disk, to say
where the time goes (they overlap in the poll, which pipelines batches).

    python -m bench.imap_ingest [--messages 1000] [--rounds 3]

Prints `imap_peer_ratio=` = getmail6 median / Courier median (goal >= 1.0),
`imap_ratio=` = bare fetch median / Courier median (target >= 0.7), the medians,
`imap_ratio_vs_parsing_fetch=`, and `costs_us_per_message`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from imap_tools import AND, MailBoxUnencrypted, MailMessage
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from core.db import Database, create_database
from core.db.migrate import upgrade
from core.models import Mailbox, MailboxCreate, WorkspaceCreate
from core.permissions import OPERATOR
from core.services.inbound import MailboxCopy, Recipient, record_mailbox_messages
from core.services.mailboxes import add_mailbox
from core.services.workspaces import create_workspace
from core.storage import LocalDocumentStore, StoredFile, digest
from core.vault import Vault, generate_key
from mail.imap.batch import DEFAULT_BATCH, envelope_of
from mail.imap.client import ImapConnector
from mail.imap.poller import poll_mailbox
from tests.integration.mail.dovecot import Dovecot, fake_pdf, invoice_mail, running_dovecot

TARGET = 0.7
PEER_GOAL = 1.0
USER = "alice"

_GETMAILRC = """\
[retriever]
type = SimpleIMAPRetriever
server = {host}
port = {port}
username = {user}
password = {password}
mailboxes = ("INBOX",)

[destination]
type = Maildir
path = {maildir}/
{deliver_as}

[options]
verbose = 0
read_all = true
delete = false
"""


def getmail_binary() -> str:
    """The venv's `getmail` (the bench extra installs getmail6), else one on PATH."""
    beside = Path(sys.executable).with_name("getmail")
    found = str(beside) if beside.is_file() else shutil.which("getmail")
    if found is None:
        raise SystemExit("getmail not found: pip install -e '.[bench]' (getmail6)")
    return found


def getmail_startup(binary: str) -> float:
    """The interpreter's start and getmail's imports, which the run itself also pays."""
    start = time.perf_counter()
    subprocess.run([binary, "--version"], check=True, capture_output=True)
    return time.perf_counter() - start


def getmail_fetch(server: Dovecot, binary: str, expected: int) -> float:
    """getmail6 delivering every message of the folder into a fresh Maildir."""
    with tempfile.TemporaryDirectory(prefix="getmail-") as tmp:
        maildir = Path(tmp) / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        state = Path(tmp) / "state"
        state.mkdir()
        rc = state / "getmailrc"
        rc.write_text(
            _GETMAILRC.format(
                host=server.host,
                port=server.port,
                user=USER,
                password=server.passwords[USER],
                maildir=maildir,
                deliver_as=_deliver_as(Path(tmp), maildir),
            )
        )
        start = time.perf_counter()
        done = subprocess.run(
            [binary, f"--getmaildir={state}", f"--rcfile={rc}"], capture_output=True, check=False
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"getmail failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        delivered = len(list((maildir / "new").iterdir()))
    assert delivered == expected, (delivered, expected)
    return elapsed


def _deliver_as(folder: Path, maildir: Path) -> str:
    """getmail refuses to deliver as root: run as root (a container), it delivers as
    `nobody`, which then owns the Maildir."""
    if os.geteuid() != 0:
        return ""
    nobody = pwd.getpwnam("nobody")
    os.chmod(folder, 0o711)
    for path in (maildir, *maildir.iterdir()):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return "user = nobody"


class RawKept(MailMessage):
    """imap-tools' message class, keeping the raw bytes and parsing nothing."""

    def __init__(self, fetch_data: list[object]) -> None:
        self.raw, self._raw_uid_data, self._raw_flag_data = self._get_message_data_parts(fetch_data)


def imap_tools_fetch(server: Dovecot, expected: int, *, raw: bool) -> float:
    start = time.perf_counter()
    with MailBoxUnencrypted(server.host, server.port).login(
        USER, server.passwords[USER], initial_folder="INBOX"
    ) as box:
        if raw:
            box.email_message_class = RawKept
        held = list(box.fetch(AND(all=True), mark_seen=False, bulk=DEFAULT_BATCH))
    elapsed = time.perf_counter() - start
    assert len(held) == expected, (len(held), expected)
    if raw:
        assert all(isinstance(m, RawKept) and m.raw for m in held)
    return elapsed


async def _world(path: Path, server: Dovecot, vault: Vault) -> tuple[Database, Mailbox]:
    db = create_database(make_url(f"sqlite+aiosqlite:///{path}"))
    async with db.transaction() as session:
        workspace, _ = await create_workspace(
            session=session, data=WorkspaceCreate(name="Bench"), invite_ttl=timedelta(hours=1)
        )
        assert workspace.id is not None
        mailbox = await add_mailbox(
            session=session,
            vault=vault,
            data=MailboxCreate(
                workspace_id=workspace.id,
                host=server.host,
                port=server.port,
                username=USER,
                secret=SecretStr(server.passwords[USER]),
            ),
            history="all",
            by=OPERATOR,
        )
    return db, mailbox


async def courier_poll(server: Dovecot, template: Path, workdir: Path, expected: int) -> float:
    path = workdir / "courier.db"
    shutil.copy(template, path)
    vault = Vault([generate_key()])
    db, mailbox = await _world(path, server, vault)
    store = LocalDocumentStore(workdir / "documents")
    assert mailbox.id is not None
    start = time.perf_counter()
    result = await poll_mailbox(
        db=db,
        store=store,
        vault=vault,
        mailbox_id=mailbox.id,
        wake=lambda: None,
        # The bench's Dovecot is on 127.0.0.1, refused unless private hosts are allowed.
        connect=ImapConnector(allow_private=True),
    )
    elapsed = time.perf_counter() - start
    await db.dispose()
    assert result.recorded == expected, result
    return elapsed


async def costs(server: Dovecot, template: Path, workdir: Path, raws: list[bytes]) -> str:
    """Each cost of Courier's run alone, in µs per message, batches as the poller's."""
    n = len(raws)
    batches = [raws[i : i + DEFAULT_BATCH] for i in range(0, n, DEFAULT_BATCH)]
    start = time.perf_counter()
    envelopes = [envelope_of(raw, StoredFile(digest(raw), len(raw))) for raw in raws]
    parse = time.perf_counter() - start

    store = LocalDocumentStore(workdir / "documents")
    start = time.perf_counter()
    for chunk in batches:
        await store.put_many(chunk)
    stored = time.perf_counter() - start
    start = time.perf_counter()
    for raw in raws[: n // 5]:
        await LocalDocumentStore(workdir / "one-by-one").put(raw)
    serial = (time.perf_counter() - start) / (n // 5) * n

    path = workdir / "costs.db"
    shutil.copy(template, path)
    db, mailbox = await _world(path, server, Vault([generate_key()]))
    assert mailbox.id is not None
    recipient = Recipient(address=USER, workspace_id=mailbox.workspace_id)
    start = time.perf_counter()
    for first in range(0, n, DEFAULT_BATCH):
        async with db.transaction() as session:
            row = await session.get(Mailbox, mailbox.id, with_for_update=True)
            assert row is not None
            uids = range(first + 1, min(first + DEFAULT_BATCH, n) + 1)
            items = [MailboxCopy(envelopes[uid - 1], recipient, mailbox.id, 1, uid) for uid in uids]
            await record_mailbox_messages(session=session, items=items)
            row.last_uid = uids[-1]
    recorded = time.perf_counter() - start
    await db.dispose()

    def us(seconds: float) -> str:
        return f"{seconds / n * 1e6:.0f}"

    return (
        f"costs_us_per_message parse={us(parse)} store={us(stored)} "
        f"store_one_by_one={us(serial)} record={us(recorded)}"
    )


async def migrated_template(folder: Path) -> Path:
    path = folder / "template.db"
    db = create_database(make_url(f"sqlite+aiosqlite:///{path}"))
    await upgrade(db.engine)
    await db.dispose()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.messages

    with running_dovecot() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        raws = [invoice_mail(i, pdf=fake_pdf(20_000, i)) for i in range(n)]
        server.append_many(USER, raws)
        template = asyncio.run(migrated_template(work))
        getmail = getmail_binary()
        times: dict[str, list[float]] = {
            "raw": [],
            "courier": [],
            "parsed": [],
            "getmail": [],
            "startup": [],
        }
        runs: list[tuple[str, Callable[[int], float]]] = [
            ("startup", lambda _: getmail_startup(getmail)),
            ("getmail", lambda _: getmail_fetch(server, getmail, n)),
            ("raw", lambda _: imap_tools_fetch(server, n, raw=True)),
            (
                "courier",
                lambda r: asyncio.run(courier_poll(server, template, _fresh(work / f"r{r}"), n)),
            ),
            ("parsed", lambda _: imap_tools_fetch(server, n, raw=False)),
        ]
        imap_tools_fetch(server, n, raw=False)  # warm Dovecot's caches for everyone
        for round_ in range(args.rounds):
            for name, run in runs:
                times[name].append(run(round_))
            print(
                f"round {round_ + 1}: getmail={times['getmail'][-1]:.3f}s "
                f"(start {times['startup'][-1]:.3f}s) "
                f"imap_tools_raw={times['raw'][-1]:.3f}s "
                f"courier={times['courier'][-1]:.3f}s "
                f"imap_tools_parsed={times['parsed'][-1]:.3f}s",
                flush=True,
            )
        cost_line = asyncio.run(costs(server, template, _fresh(work / "costs"), raws))
    raw, courier, parsed, getmail_s, startup = (
        statistics.median(times[k]) for k in ("raw", "courier", "parsed", "getmail", "startup")
    )
    peer = getmail_s - startup
    print(f"imap_peer_ratio={peer / courier:.2f}")
    print(
        f"getmail_median_s={getmail_s:.3f} getmail_startup_median_s={startup:.3f} "
        f"courier_median_s={courier:.3f} messages={n} goal>={PEER_GOAL}"
    )
    print(f"imap_ratio={raw / courier:.2f}")
    print(
        f"imap_tools_raw_median_s={raw:.3f} courier_median_s={courier:.3f} "
        f"imap_tools_parsed_median_s={parsed:.3f} messages={n} target>={TARGET}"
    )
    print(f"imap_ratio_vs_parsing_fetch={parsed / courier:.2f}")
    print(f"{cost_line} fetch={raw / n * 1e6:.0f} (the baseline)")


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    main()
