"""Kill the gateway with SIGKILL mid-stream: every message that got a 250 is delivered."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from tests.e2e.forkserver import run_courier

DOMAIN = "in.example.com"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {
        "COURIER_MAIL_DOMAIN": DOMAIN,
        "COURIER_SMTP_PORT": "0",
        "COURIER_DATA_DIR": str(home / "var"),
        # The killed worker's claims are taken over after this lease.
        "COURIER_MAIL_LEASE_SECONDS": "2",
        # Durability is the point here; sender authentication has its own tests.
        "COURIER_MAIL_AUTHENTICATION": "false",
    }
    return env


def _start_mail(home: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "courier", "mail"],
        cwd=home,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        found = re.search(r"SMTP gateway on [\d.]+:(\d+)", line)
        if found:
            return process, int(found.group(1))
    process.kill()
    raise AssertionError("the gateway did not start")


def _mail(i: int) -> bytes:
    message = EmailMessage()
    message["From"] = "factures@edf.fr"
    message["To"] = f"acme@{DOMAIN}"
    message["Subject"] = f"Facture {i}"
    message.set_content("ci-joint")
    message.add_attachment(
        f"%PDF-1.4 invoice {i}\n".encode() + b"x" * 2000,
        maintype="application",
        subtype="pdf",
        filename=f"invoice-{i}.pdf",
    )
    return message.as_bytes()


def test_every_acknowledged_message_survives_a_kill(tmp_path: Path) -> None:
    created = run_courier("workspace", "create", "Acme", cwd=tmp_path, env=_env(tmp_path))
    assert created.returncode == 0, created.stderr
    process, port = _start_mail(tmp_path)
    acknowledged: set[int] = set()
    lock = threading.Lock()
    counter = iter(range(500))

    def _client() -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    client.sendmail("factures@edf.fr", [f"acme@{DOMAIN}"], _mail(i))
                    with lock:
                        acknowledged.add(i)
        except (OSError, smtplib.SMTPException):
            return  # the server died under us: this message was not acknowledged

    clients = [threading.Thread(target=_client) for _ in range(5)]
    for thread in clients:
        thread.start()
    while len(acknowledged) < 150:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.stdout is not None
    process.stdout.close()
    for thread in clients:
        thread.join(timeout=30)
    assert 150 <= len(acknowledged) < 500

    # After a restart, the worker delivers every acknowledged message to the inbox.
    process, _ = _start_mail(tmp_path)
    try:
        wanted = {f"invoice-{i}.pdf" for i in acknowledged}
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while time.monotonic() < deadline and not wanted <= names:
            listed = run_courier(
                *("inbox", "list", "--workspace", "acme", "--json", "--limit", "1000"),
                cwd=tmp_path,
                env=_env(tmp_path),
            )
            names = {row["filename"] for row in json.loads(listed.stdout)}
            time.sleep(0.5)
        assert wanted <= names, f"{len(wanted - names)} acknowledged messages were lost"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        assert process.stdout is not None
        process.stdout.close()
    assert code == 0
