"""The `courier` command as a user runs it, in a fresh data folder, in a real process."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from core.suppliers.woob.setup import WoobSetup
from tests.e2e.forkserver import run_courier

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass(frozen=True, slots=True)
class Courier:
    home: Path
    env: dict[str, str]

    def __call__(self, *args: str, **env: str) -> Result:
        done = run_courier(*args, cwd=self.home, env=self.env | env)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def courier(tmp_path: Path) -> Courier:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env["COURIER_MAIL_DOMAIN"] = "in.example.com"
    return Courier(tmp_path, env)


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _one_line(result: Result) -> str:
    """The error itself is one line; log records (a first run's key warning) may precede it."""
    lines = [line for line in result.err.strip().splitlines() if not LOG_RECORD.match(line)]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_a_new_business_gets_its_workspace_address_and_invite(courier: Courier) -> None:
    created = courier("workspace", "create", "Boulangerie Dupont", "--json")
    assert created.code == 0, created.err
    data = created.json()
    assert data["slug"] == "boulangerie-dupont"
    assert data["inbox_address"] == "boulangerie-dupont@in.example.com"
    assert len(data["invite_code"]) >= 12
    listed = courier("workspace", "list", "--json").json()
    assert [w["slug"] for w in listed] == ["boulangerie-dupont"]
    # The first run generated the key, readable by its owner only, and said so.
    key = courier.home / "var" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "generated one" in created.err


def test_a_duplicate_workspace_is_one_clear_line(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    again = courier("workspace", "create", "ACME")
    assert again.code == 2
    assert "slug 'acme' is taken" in _one_line(again)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("workspace", "create"), "required: name"),
        (("frobnicate",), "invalid choice"),
        (("inbox", "list"), "required: --workspace"),
        (("inbox", "list", "--workspace", "nope"), "no workspace 'nope'"),
        (("catalog", "search", "edf", "--limit", "0"), "between 1 and 1000"),
        (("inbox", "add", "--workspace", "x", "/no/such/file.pdf"), "no such file"),
        (("workspace", "create", "Shop", "--locale", "de"), "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(
    courier: Courier, args: tuple[str, ...], expected: str
) -> None:
    result = courier(*args)
    assert result.code == 2
    assert expected in _one_line(result)


def test_a_bad_database_url_is_refused_without_echoing_its_password(courier: Courier) -> None:
    result = courier("workspace", "list", COURIER_DATABASE_URL="postgres://u:hunter2@")
    assert result.code == 2
    line = _one_line(result)
    assert "COURIER_DATABASE_URL" in line
    assert "hunter2" not in result.err


def test_an_unreachable_database_is_one_line_and_exit_1(courier: Courier) -> None:
    result = courier(
        "workspace", "list", COURIER_DATABASE_URL="postgresql+asyncpg://u:hunter2@127.0.0.1:1/x"
    )
    assert result.code == 1
    line = _one_line(result)
    assert "does not answer" in line
    assert "hunter2" not in line


def test_the_inbox_takes_a_file_once_and_lists_it(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    invoice = courier.home / "Facture_février.pdf"
    invoice.write_bytes(PDF)
    first = courier(
        "inbox", "add", "--workspace", "acme", str(invoice), "--supplier", "EDF", "--json"
    )
    assert first.json()["created"] is True
    again = courier("inbox", "add", "--workspace", "acme", str(invoice))
    assert "already in the inbox" in again.out
    [row] = courier("inbox", "list", "--workspace", "acme", "--json").json()
    assert (row["filename"], row["source"], row["supplier"], row["state"]) == (
        "Facture_février.pdf",
        "upload",
        "EDF",
        "inbox",
    )
    assert set(row) >= {"id", "date", "amount"}
    table = courier("inbox", "list", "--workspace", "acme").out
    assert "Facture_février.pdf" in table


def _stored_files(courier: Courier) -> list[Path]:
    documents = courier.home / "var" / "documents"
    return [p for p in documents.rglob("*") if p.is_file()] if documents.exists() else []


def test_a_file_over_the_size_limit_is_refused_in_one_line_and_nothing_is_stored(
    courier: Courier,
) -> None:
    """`courier inbox add` of a huge file once read it whole and died with a MemoryError
    traceback; it is now refused from its size, before a byte of it is read."""
    assert courier("workspace", "create", "Acme").code == 0
    huge = courier.home / "scan.pdf"
    with huge.open("wb") as handle:
        handle.write(PDF)
        handle.truncate(200 * 1024 * 1024)  # sparse: no disk used, nothing slow to read
    result = courier(
        "inbox", "add", "--workspace", "acme", str(huge), COURIER_MAIL_MAX_BYTES=str(4 * 1024**2)
    )
    assert result.code == 2
    assert "scan.pdf is larger than 4.0 MB" in _one_line(result)
    assert "MemoryError" not in result.err
    assert courier("inbox", "list", "--workspace", "acme", "--json").json() == []
    assert _stored_files(courier) == []


def test_a_file_under_the_limit_is_stored_whole_under_its_sha256(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    content = PDF + os.urandom(5 * 1024**2 // 2)  # more than one chunk of the copy
    invoice = courier.home / "invoice.pdf"
    invoice.write_bytes(content)
    added = courier(
        "inbox",
        "add",
        "--workspace",
        "acme",
        str(invoice),
        "--json",
        COURIER_MAIL_MAX_BYTES=str(4 * 1024**2),
    )
    assert added.code == 0, added.err
    expected = hashlib.sha256(content).hexdigest()
    assert added.json()["sha256"] == expected
    [stored] = _stored_files(courier)
    assert stored.name == expected
    assert stored.read_bytes() == content
    [row] = courier("inbox", "list", "--workspace", "acme", "--json").json()
    assert row["filename"] == "invoice.pdf"


def test_the_catalog_finds_suppliers_by_alias_and_with_typos(courier: Courier) -> None:
    found = courier("catalog", "search", "edf", "--json").json()
    assert any("EDF" in row["name"] for row in found[:3])
    assert {"name", "portal", "portal_url", "connector", "available"} <= set(found[0])
    typo = courier("catalog", "search", "ornage", "--json").json()
    assert any(row["name"].startswith("Orange") for row in typo[:3])


def test_the_catalog_says_how_each_supplier_connects(courier: Courier) -> None:
    """`connector` is the kind (api, portal, community, email, demo), `available` whether
    this build can connect to it: the same as the registry's (a unit test checks that)."""
    rows = courier("catalog", "search", "amazon web services", "--json").json()
    aws = rows[0]
    assert (aws["key"], aws["connector"], aws["available"]) == ("aws", "api", True)
    kinds = {"api", "portal", "community", "email", "demo"}
    assert all(row["connector"] in kinds and isinstance(row["available"], bool) for row in rows)


def test_the_catalog_shows_the_way_in_for_a_supplier_without_connector(courier: Courier) -> None:
    """No connector for EDF: its invoices come by mail, and its setting for that is said."""
    [edf, *_] = courier("catalog", "search", "edf (particuliers)", "--json").json()
    assert (edf["key"], edf["available"]) == ("edf", False)
    way_in = edf["way_in"]
    assert way_in["by"] == "mail"
    assert "edf.fr" in way_in["mail_domains"]
    assert way_in["setting"] == "Espace Client → facture électronique (e-facture)"
    [uber, *_] = courier("catalog", "search", "uber (courses)", "--json").json()
    assert (uber["way_in"]["by_default"], uber["way_in"]["setting"]) == (True, None)
    [aws, *_] = courier("catalog", "search", "amazon web services", "--json").json()
    assert aws["way_in"]["by"] == "connector"
    table = courier("catalog", "search", "edf (particuliers)").out
    assert "WAY_IN" in table.splitlines()[0]
    assert "switch on invoices by email (Espace Client → facture électronique" in table


def test_a_lost_key_stops_courier_with_a_clear_line(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    (courier.home / "var" / "secret.key").unlink()
    result = courier("workspace", "list")
    assert result.code == 1
    assert "secret key is missing" in _one_line(result)
    assert not (courier.home / "var" / "secret.key").exists()  # no useless new key


def test_a_wrong_key_stops_courier_with_a_clear_line(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    other = "x7WkTXpL4l6A2rcXxY8uPp3VJmJ2bUg9qX2V1uZ6Q9k="
    result = courier("workspace", "list", COURIER_SECRET_KEY=other)
    assert result.code == 1
    assert "cannot open the stored secrets" in _one_line(result)


def test_rotation_moves_to_a_new_key_and_everything_still_opens(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    key_file = courier.home / "var" / "secret.key"
    before = key_file.read_text()
    rotated = courier("secrets", "rotate")
    assert rotated.code == 0, rotated.err
    assert "re-sealed" in rotated.out
    after = key_file.read_text()
    assert after != before
    assert len(after.split()) == 1  # the old key is gone
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    doctor = courier("doctor", "--json")
    assert doctor.code == 0, doctor.out
    assert all(check["ok"] for check in doctor.json())


def test_doctor_says_exactly_what_is_wrong(courier: Courier) -> None:
    result = courier("doctor", COURIER_DATABASE_URL="postgresql+asyncpg://u@127.0.0.1:1/x")
    assert result.code == 1
    assert "FAIL  database" in result.out
    assert "does not answer" in result.out


def test_run_sets_up_then_serves_mail_until_stopped(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "courier", "run"],
        cwd=courier.home,
        env=courier.env
        | {"COURIER_SMTP_PORT": "0", "COURIER_DEMO_SUPPLIER_PORT": str(_free_port())},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        seen: list[str] = []
        while not (found := re.search(r"SMTP gateway on [\d.]+:(\d+)", seen[-1] if seen else "")):
            line = process.stdout.readline()
            assert line, "courier run exited: " + "".join(seen)
            seen.append(line)
        assert any("suppliers" in line for line in seen)
        assert any("bot: off" in line for line in seen)  # no token: it says how to try it
        invoice = EmailMessage()
        invoice["From"], invoice["To"], invoice["Subject"] = (
            "f@edf.fr",
            "acme@in.example.com",
            "Facture",
        )
        invoice.set_content("ci-joint")
        invoice.add_attachment(PDF, maintype="application", subtype="pdf", filename="f.pdf")
        with smtplib.SMTP("127.0.0.1", int(found.group(1)), timeout=10) as client:
            client.send_message(invoice)
        for _ in range(100):
            rows = courier("inbox", "list", "--workspace", "acme", "--json").json()
            if rows:
                break
            time.sleep(0.1)
        assert [row["filename"] for row in rows] == ["f.pdf"]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        process.stdout.close()
    assert code == 0


def test_the_bot_without_a_token_says_how_to_get_one(courier: Courier) -> None:
    role = courier("bot")
    assert role.code == 2
    assert "COURIER_TELEGRAM_TOKEN" in _one_line(role)
    assert "@BotFather" in _one_line(role)


def test_a_reader_that_stops_early_gets_no_traceback(courier: Courier) -> None:
    """`courier catalog search a --json | head -1`: head leaves after one line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "courier", "catalog", "search", "a", "--json"],
        cwd=courier.home,
        env=courier.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # nobody reads: the first write meets a broken pipe
    err = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err


def test_help_answers_without_loading_any_part_of_courier(courier: Courier) -> None:
    """`courier --help` and a mistyped command load no handler: the command tree names its
    handlers as text, so asking for help does not pay for the bot, mail and reading."""
    probe = (
        "import sys; from courier.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\n"
        "heavy = {'aiogram', 'aiosmtpd', 'imap_tools', 'sqlmodel', 'aiohttp', 'PIL', 'pypdf'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
        "print(sorted(m for m in sys.modules if m.endswith('_commands')))\n"
    )
    for argv in (["--help"], ["inbox", "list", "--help"], ["no-such-command"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv],
            cwd=courier.home,
            env=courier.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.splitlines()[-2:] == ["[]", "[]"], (argv, done.stdout, done.stderr)
    assert "usage: courier" in courier("--help").out


def test_a_member_names_the_address_they_forward_invoices_from(courier: Courier) -> None:
    code = courier("workspace", "create", "Boulangerie Dupont", "--json").json()["invite_code"]
    joined = courier("workspace", "join", code, "--telegram-id", "1001", "--name", "Marie")
    assert joined.code == 0, joined.err
    args = ("workspace", "member-address", "--workspace", "boulangerie-dupont")
    named = courier(*args, "--telegram-id", "1001", "Marie@Boulangerie-Dupont.fr")
    assert (named.code, named.out.strip()) == (0, "Marie forwards from marie@boulangerie-dupont.fr")
    refused = courier(*args, "--telegram-id", "1001", "not an address")
    assert refused.code == 2
    assert "mail_address" in _one_line(refused)
    stranger = courier(*args, "--telegram-id", "999", "x@example.com")
    assert stranger.code == 2
    assert "999" in _one_line(stranger)


def test_woob_install_makes_the_community_connectors_available(
    courier: Courier, woob: WoobSetup
) -> None:
    """Before woob is installed, EDF is a community connector this machine cannot run;
    `courier woob install` (here onto the suite's own woob, already there) makes the
    catalog say it can (tests/unit/test_woob_catalog.py checks every woob entry)."""
    [edf, *_] = courier("catalog", "search", "edf (particuliers)", "--json").json()
    assert (edf["key"], edf["connector"], edf["available"]) == ("edf", "community", False)
    env = {"COURIER_WOOB_DIR": str(woob.home)}
    done = courier("woob", "install", "--no-modules", "--json", **env)
    assert done.code == 0, done.err
    assert done.json()["modules"] == "skipped"
    [edf, *_] = courier("catalog", "search", "edf (particuliers)", "--json", **env).json()
    assert (edf["connector"], edf["available"]) == ("community", True)
    assert edf["way_in"]["by"] == "connector"
    rows = courier("catalog", "search", "amazon", "--json", **env).json()
    shops = {row["key"]: row["available"] for row in rows if row["connector"] == "community"}
    assert shops == {"amazon": True, "amazon-de": True, "amazon-uk": True, "amazon-us": True}
