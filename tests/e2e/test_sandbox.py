"""`courier sandbox` as a newcomer uses it: no Telegram account, a chat in the terminal.
They join with the printed invite, connect the Demo Supplier by pressing numbered
buttons (alone in the workspace, they own it without being asked; the password message
is deleted), hear the result, and send a file by path."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.standins import make_pdf

REPO = Path(__file__).resolve().parents[2]


class Session:
    """`courier sandbox` in a subprocess, read line by line from its stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[str] = []

    async def expect(self, pattern: str, within: float = 30) -> re.Match[str]:
        wanted = re.compile(pattern)
        assert self.process.stdout is not None

        async def scan() -> re.Match[str]:
            assert self.process.stdout is not None
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"sandbox ended before {pattern!r}")
                line = raw.decode().rstrip("\n")
                self.seen.append(line)
                if match := wanted.search(line):
                    return match

        try:
            return await asyncio.wait_for(scan(), timeout=within)
        except TimeoutError:
            shown = "\n".join(self.seen[-30:])
            raise AssertionError(f"no line matching {pattern!r}; last lines:\n{shown}") from None

    async def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    def choice(self, label: str) -> str:
        """The number shown for a button, from the latest lines."""
        for line in reversed(self.seen):
            match = re.match(r"\s+\[(\d+)\] (.*)$", line)
            if match and label in match.group(2):
                return match.group(1)
        raise AssertionError(f"no button {label!r} shown")


async def test_a_newcomer_tries_courier_in_the_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {"COURIER_DATA_DIR": str(tmp_path / "var"), "COURIER_SCHEDULER_TICK_SECONDS": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "courier",
        "sandbox",
        "--limits",
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    sandbox = Session(process)
    try:
        code = (await sandbox.expect(r"Join with:\s+/start (\S+)")).group(1)
        await sandbox.expect(r"^bot: @courier_sandbox_bot by long polling")
        await sandbox.type(f"/start {code}")
        await sandbox.expect(r"^bot #\d+: Welcome to Sandbox! You joined as owner")

        await sandbox.type("/connect")
        await sandbox.expect(r"Which supplier\?")
        await sandbox.type("demo")
        await sandbox.expect(r"Demo Supplier \(pro\): your login on its site")
        await sandbox.type("demo@example.com")
        await sandbox.expect(r"And the password")
        await sandbox.type("demo")
        await sandbox.expect(r"\(the bot deleted your message #\d+\)")
        await sandbox.expect(r"Fetch the full history")
        await sandbox.expect(r"\[\d\] Full history")
        await sandbox.type(sandbox.choice("Full history"))
        await sandbox.expect(
            r"Checking your Demo Supplier account \(demo@example\.com\) in the background"
        )
        await sandbox.expect(r"Demo Supplier is connected: \d+ invoices found", within=60)

        invoice = tmp_path / "facture-juin.pdf"
        invoice.write_bytes(make_pdf("Boulangerie Dupont", "Facture F-0612", "Total TTC 42,00 EUR"))
        await sandbox.type(f"/send {invoice}")
        await sandbox.expect(r"Added to the inbox: facture-juin\.pdf")

        await sandbox.type("/quit")
        await sandbox.expect(r"^Sandbox stopped\.")
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
        assert "demo" not in [line.split(": ", 1)[-1] for line in sandbox.seen]  # never echoed
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_an_unusable_data_dir_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "courier",
        "sandbox",
        "--data-dir",
        str(blocker / "sandbox"),
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert (
        err.decode().strip()
        == f"courier sandbox: cannot use {blocker / 'sandbox'}: Not a directory"
    )
    assert out == b""
