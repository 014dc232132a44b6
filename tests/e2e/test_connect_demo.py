"""The whole story: connect the Demo Supplier, its code arrives by email and is relayed
without typing, and its invoices land in the inbox."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.e2e.forkserver import run_courier


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    return env | {
        "COURIER_DATA_DIR": str(home / "var"),
        "COURIER_MAIL_DOMAIN": "in.example.com",
        "COURIER_SMTP_PORT": str(_free_port()),
        "COURIER_DEMO_SUPPLIER_PORT": str(_free_port()),
        "COURIER_SCHEDULER_TICK_SECONDS": "1",
    }


def _courier(home: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    done = run_courier(*args, cwd=home, env=env, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


def _wait(what: str, check: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_code_mailed_by_the_supplier_is_relayed_and_the_invoices_arrive(tmp_path: Path) -> None:
    env = _env(tmp_path)
    created = _courier(tmp_path, env, "workspace", "create", "Demo", "--slug", "demo", "--json")
    _courier(
        tmp_path,
        env,
        "workspace",
        "join",
        created["invite_code"],
        "--telegram-id",
        "1001",
        "--name",
        "Marie",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "courier", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        _wait("the demo supplier", lambda: "Demo Supplier at" in process.stdout.readline())
        added = _courier(
            tmp_path,
            env,
            "connections",
            "add",
            "--workspace",
            "demo",
            "--supplier",
            "demo-supplier",
            "--login",
            "mail@example.com",
            "--json",
            stdin="demo\n",
        )

        def inbox() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = _courier(
                tmp_path, env, "inbox", "list", "--workspace", "demo", "--json"
            )
            return rows if len(rows) >= 12 else []

        rows = _wait("the invoices", inbox, seconds=90)
        assert {row["source"] for row in rows} == {"connector"}
        [connection] = _courier(
            tmp_path, env, "connections", "list", "--workspace", "demo", "--json"
        )
        assert (connection["id"], connection["state"]) == (added["id"], "active")
        received = _courier(tmp_path, env, "inbound", "list", "--workspace", "demo", "--json")
        assert [m["state"] for m in received] == ["code_relayed"]
        runs = _courier(
            tmp_path, env, "connections", "runs", "--workspace", "demo", str(added["id"]), "--json"
        )
        assert runs[0]["outcome"] == "success"
        assert runs[0]["new"] == 12
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
