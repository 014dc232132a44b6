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

from tests.e2e.forkserver import run_courier
from tests.integration.mail.dovecot import (
    USERS,
    Dovecot,
    dovecot_for_tests,
    invoice_mail,
)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with dovecot_for_tests() as server:
        yield server


#: The test Dovecot listens on 127.0.0.1: only reachable with the operator's permission.
LOCAL = {"COURIER_MAILBOX_ALLOW_PRIVATE": "true"}


def _courier(
    home: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    extra = env
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {"COURIER_DATA_DIR": str(home / "var"), "COURIER_SMTP_PORT": "0"} | (extra or {})
    return run_courier(*args, cwd=home, env=env, stdin=stdin)


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
            env=LOCAL,
        )
    )
    assert USERS["alice"] not in json.dumps(added)

    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {
        "COURIER_DATA_DIR": str(tmp_path / "var"),
        "COURIER_SMTP_PORT": "0",
        "COURIER_MAIL_AUTHENTICATION": "false",
    } | LOCAL
    process = subprocess.Popen(
        [sys.executable, "-m", "courier", "mail"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not rows:
            rows = _json(_courier(tmp_path, "inbox", "list", "--workspace", "acme", "--json"))
            time.sleep(0.3)
        assert [(r["filename"], r["source"]) for r in rows] == [("edf-2026-11.pdf", "imap")]
        assert "\\Seen" in dovecot.flags("alice", folder)[uid]  # marked only once it was safe
        [box] = _json(_courier(tmp_path, "mailbox", "list", "--workspace", "acme", "--json"))
        assert (box["username"], box["state"]) == ("alice", "active")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert re.search(r"SMTP gateway on", out)
    assert USERS["alice"] not in out + err


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


def _add(home: Path, host: str, port: int, user: str, password: str, **env: str) -> Any:
    return _courier(
        home,
        "mailbox",
        "add",
        "--workspace",
        "acme",
        "--host",
        host,
        "--port",
        str(port),
        "--user",
        user,
        stdin=password + "\n",
        env=env,
    )


def _watched(home: Path, **env: str) -> list[dict[str, Any]]:
    listed = _courier(home, "mailbox", "list", "--workspace", "acme", "--json", env=env)
    rows: list[dict[str, Any]] = _json(listed)
    return rows


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("127.0.0.1", 5432),  # the database, spoken to in plain text
        ("localhost", 6379),
        ("10.0.0.7", 993),
        ("169.254.169.254", 80),  # a cloud's metadata service
        ("::1", 143),
    ],
)
def test_a_mailbox_on_this_machine_or_a_private_network_is_refused(
    tmp_path: Path, host: str, port: int
) -> None:
    assert _courier(tmp_path, "workspace", "create", "Acme").returncode == 0
    result = _add(tmp_path, host, port, "postgres", "guess")
    assert result.returncode == 1
    assert "private network" in result.stderr
    assert "COURIER_MAILBOX_ALLOW_PRIVATE" in result.stderr
    assert _watched(tmp_path) == []


def test_a_wrong_password_is_found_before_the_mailbox_is_added(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    assert _courier(tmp_path, "workspace", "create", "Acme").returncode == 0
    wrong = _add(tmp_path, dovecot.host, dovecot.port, "bob", "not-his-password", **LOCAL)
    assert wrong.returncode == 1
    assert "refused the password for bob; nothing was added" in wrong.stderr
    assert "not-his-password" not in wrong.stdout + wrong.stderr
    assert _watched(tmp_path, **LOCAL) == []
    # The same server is refused without the operator's permission, whatever the password.
    refused = _add(tmp_path, dovecot.host, dovecot.port, "alice", USERS["alice"])
    assert (refused.returncode, _watched(tmp_path)) == (1, [])
    right = _add(tmp_path, dovecot.host, dovecot.port, "alice", USERS["alice"], **LOCAL)
    assert right.returncode == 0, right.stderr
    assert [box["username"] for box in _watched(tmp_path, **LOCAL)] == ["alice"]
