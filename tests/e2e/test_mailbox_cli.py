"""A bookkeeper lets Courier watch the mailbox where invoices already arrive."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mail.dovecot import (
    USERS,
    Dovecot,
    DovecotMissing,
    invoice_mail,
    start_dovecot,
    stop_dovecot,
)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    try:
        server = start_dovecot()
    except DovecotMissing as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the IMAP tests: {err}")
        pytest.skip(str(err))
    yield server
    stop_dovecot(server)


def _courier(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {"COURIER_DATA_DIR": str(home / "var"), "COURIER_SMTP_PORT": "0"}
    return subprocess.run(
        [sys.executable, "-m", "courier", *args],
        cwd=home,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_invoices_in_a_watched_mailbox_reach_the_inbox(dovecot: Dovecot, tmp_path: Path) -> None:
    folder = f"Factures-{uuid.uuid4().hex[:8]}"
    dovecot.create_folder("alice", folder)
    [uid] = dovecot.append_many("alice", [invoice_mail(1, filename="edf-2026-11.pdf")], folder)
    assert _courier(tmp_path, "workspace", "create", "Acme").returncode == 0
    common = ["--workspace", "acme", "--host", dovecot.host, "--port", str(dovecot.port)]
    added = _json(
        _courier(
            tmp_path,
            "mailbox",
            "add",
            *common,
            "--user",
            "alice",
            "--folder",
            folder,
            "--all",
            "--json",
            stdin=USERS["alice"] + "\n",
        )
    )
    wrong = _courier(
        tmp_path, "mailbox", "add", *common, "--user", "bob", stdin="not-his-password\n"
    )
    assert wrong.returncode == 0
    assert USERS["alice"] not in json.dumps(added)

    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {
        "COURIER_DATA_DIR": str(tmp_path / "var"),
        "COURIER_SMTP_PORT": "0",
        "COURIER_MAIL_AUTHENTICATION": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "courier", "mail"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not rows:
            rows = _json(_courier(tmp_path, "inbox", "list", "--workspace", "acme", "--json"))
            time.sleep(0.3)
        assert [(r["filename"], r["source"]) for r in rows] == [("edf-2026-11.pdf", "imap")]
        assert "\\Seen" in dovecot.flags("alice", folder)[uid]  # marked only once it was safe
        boxes = {
            b["username"]: b
            for b in _json(_courier(tmp_path, "mailbox", "list", "--workspace", "acme", "--json"))
        }
        assert boxes["alice"]["state"] == "active"
        assert (boxes["bob"]["state"], boxes["bob"]["last_error"]) == ("error", "auth_failed")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert re.search(r"SMTP gateway on", out)
    for secret in (USERS["alice"], "not-his-password"):
        assert secret not in out + err


def test_a_move_without_a_folder_is_refused(tmp_path: Path) -> None:
    assert _courier(tmp_path, "workspace", "create", "Acme").returncode == 0
    result = _courier(
        tmp_path,
        "mailbox",
        "add",
        "--workspace",
        "acme",
        "--host",
        "imap.example.com",
        "--user",
        "a",
        "--after",
        "move",
        stdin="pw\n",
    )
    assert result.returncode == 2
    assert "--move-to" in result.stderr
