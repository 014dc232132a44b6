"""What the commands print (issue #14, finding 18): tables and `name: value` lines a person
reads, never a Python repr, and `--json` on every command that ends, for scripts. A
bookkeeper reads an invoice, finds a supplier's key in the catalog and connects it."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from core.services.reading import read_waiting_documents
from courier.parser import build_parser
from courier.runtime import open_runtime
from tests.conftest import make_settings
from tests.e2e.test_accounting_cli import Courier, Result
from tests.e2e.test_accounting_cli import courier as courier  # the fixture
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

WS = ("--workspace", "boulangerie-dupont")
#: The commands that run until stopped: they print a log as they go, not a result.
SERVING = {"run", "bot", "mail", "scheduler", "oauth", "sandbox"}
PASSWORD = "hunter2-supplier-password"


def _no_repr(text: str) -> None:
    """What a Python dict, list or internal key looks like when printed raw."""
    for sign in ("{'", "['", "': ", "_read", "_supplier", "Decimal(", "datetime."):
        assert sign not in text, (sign, text)


def _table(out: str) -> list[dict[str, str]]:
    """An aligned table back into rows, by the header's column starts."""
    header, *lines = out.splitlines()
    names = header.split()
    starts = [header.index(name) for name in names]
    ends = [*starts[1:], None]
    return [
        {n.lower(): line[s:e].strip() for n, s, e in zip(names, starts, ends, strict=True)}
        for line in lines
    ]


def _invoice(home: Path) -> Path:
    invoice = home / "facture.pdf"
    invoice.write_bytes(build_pdf(visible_lines(BAKERY)))
    return invoice


async def _read_the_inbox(home: Path) -> None:
    """What the scheduler does every few seconds, done once here."""
    async with open_runtime(make_settings(home / "var")) as rt:
        assert await read_waiting_documents(db=rt.db, store=rt.store) == 1


def test_a_read_invoice_shows_as_lines_and_a_table_of_fields(
    courier: Courier, tmp_path: Path
) -> None:
    assert courier("workspace", "create", "Boulangerie Dupont").code == 0
    added = courier("inbox", "add", *WS, str(_invoice(tmp_path)), "--json").json()
    asyncio.run(_read_the_inbox(tmp_path))

    shown = courier("inbox", "show", *WS, str(added["id"]))
    assert shown.code == 0, shown.err
    _no_repr(shown.out)
    record, fields = shown.out.split("\n\n", 1)
    pairs = dict(line.split(":", 1) for line in record.splitlines())
    assert pairs["file"].strip() == "facture.pdf"
    assert pairs["state"].strip().startswith("inbox")
    assert "read" in pairs  # Courier's own notes, by name
    assert "supplier profile" in pairs
    rows = _table(fields)
    assert list(rows[0]) == ["field", "value", "source", "confidence"]
    by_name = {row["field"]: row for row in rows if row["field"]}
    assert by_name["invoice_number"]["value"] == BAKERY.number
    assert by_name["invoice_number"]["source"] == "text"
    assert float(by_name["total_incl_tax"]["confidence"]) > 0.5
    # Three VAT lines, one row each, under one name.
    first = rows.index(by_name["vat_lines"])
    assert [row["field"] for row in rows[first : first + 3]] == ["vat_lines", "", ""]

    data = courier("inbox", "show", *WS, str(added["id"]), "--json").json()
    assert data["fields"]["invoice_number"]["value"] == BAKERY.number
    assert not [name for name in data["fields"] if name.startswith("_")]
    assert {"read", "supplier_profile"} <= set(data["notes"])
    # The page's text is kept to learn from a correction: not a note for a script.
    assert "page_text" not in data["notes"]
    assert isinstance(data["warnings"], list)


def test_extract_prints_a_table_per_file(courier: Courier, tmp_path: Path) -> None:
    empty = tmp_path / "vide.pdf"
    empty.write_bytes(b"")
    done = courier("extract", str(_invoice(tmp_path)), str(empty))
    assert done.code == 1  # one of the two could not be read
    _no_repr(done.out)
    read, failed = done.out.split("\n\n== ")
    title, table = read.split("\n", 1)
    assert title == f"== {tmp_path / 'facture.pdf'}"
    rows = {row["field"]: row for row in _table(table) if row["field"]}
    assert (rows["invoice_number"]["value"], rows["invoice_number"]["source"]) == (
        BAKERY.number,
        "text",
    )
    assert failed.splitlines()[1].startswith("error: ")


def test_the_catalog_gives_the_key_the_connect_command_takes(
    courier: Courier, tmp_path: Path
) -> None:
    code = courier("workspace", "create", "Boulangerie Dupont", "--json").json()["invite_code"]
    assert courier("workspace", "join", code, "--telegram-id", "1001", "--name", "Marie").code == 0

    found = courier("catalog", "search", "edf")
    assert found.code == 0, found.err
    edf = _table(found.out)[0]
    assert edf["key"] == "edf"
    assert edf["available"] in ("yes", "no")
    # EDF has no connector yet: the key is known, and Courier says where to forward instead.
    connect = ("connections", "add", *WS, "--login", "marie@example.com")
    refused = courier(*connect, "--supplier", edf["key"], stdin=PASSWORD + "\n")
    assert refused.code == 2
    line = refused.line()
    assert edf["name"] in line
    assert "boulangerie-dupont@" in line

    [demo, *_] = _table(courier("catalog", "search", "demo supplier").out)
    connected = courier(*connect, "--supplier", demo["key"], "--json", stdin=PASSWORD + "\n")
    assert connected.code == 0, connected.err
    assert connected.json()["supplier"] == demo["name"]
    [row] = courier("connections", "list", *WS, "--json").json()
    assert row["supplier"] == demo["name"]


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if parser.get_default("handler") is not None:
        found[" ".join(path)] = parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found |= _leaves(child, (*path, name))
    return found


def test_every_command_that_ends_takes_json() -> None:
    leaves = _leaves(build_parser())
    assert len(leaves) > 40
    for path, parser in leaves.items():
        flags = {flag for action in parser._actions for flag in action.option_strings}
        assert ("--json" in flags) == (path not in SERVING), path


def test_every_data_command_prints_json_a_script_can_read(courier: Courier, tmp_path: Path) -> None:
    """The bookkeeper's scripted day, each step with --json, each answer parsed."""
    outputs: list[str] = []

    def parsed(*args: str, stdin: str = "") -> Any:
        done: Result = courier(*args, "--json", stdin=stdin)
        assert done.code == 0, (args, done.err)
        outputs.append(done.out)
        return json.loads(done.out)

    assert parsed("db", "upgrade")["suppliers"] > 0
    code = parsed("workspace", "create", "Boulangerie Dupont")["invite_code"]
    assert parsed("workspace", "list")[0]["slug"] == "boulangerie-dupont"
    assert parsed("workspace", "invite", *WS)["role"] == "member"
    assert parsed("workspace", "join", code, "--telegram-id", "1001", "--name", "Marie")["role"]
    member = ("--telegram-id", "1001", "marie@boulangerie.example")
    assert parsed("workspace", "member-address", *WS, *member)["mail_address"]
    [demo, *_] = parsed("catalog", "search", "demo supplier")
    invoice = str(_invoice(tmp_path))
    document = parsed("inbox", "add", *WS, invoice)["id"]
    assert parsed("inbox", "list", *WS)[0]["id"] == document
    assert parsed("inbox", "show", *WS, str(document))["state"] == "inbox"
    assert parsed("inbox", "review", *WS, str(document))["field"]
    assert parsed("extract", invoice)[0]["invoice_number"]["value"] == BAKERY.number
    connection = parsed(
        "connections",
        "add",
        *WS,
        "--supplier",
        demo["key"],
        "--login",
        "marie@example.com",
        stdin=PASSWORD + "\n",
    )["id"]
    assert parsed("connections", "list", *WS)[0]["id"] == connection
    assert parsed("connections", "fetch", *WS, str(connection))["id"] == connection
    assert parsed("connections", "runs", *WS, str(connection)) == []
    assert parsed("mailbox", "list", *WS) == []
    assert parsed("inbound", "list", *WS) == []
    assert parsed("integration", "status", *WS)["software"] is None
    assert parsed("rules", "list", *WS) == []
    assert parsed("digest", "list", *WS)[0]["digest"] == "on"
    assert parsed("digest", "off", *WS)["changed"] == 1
    assert parsed("secrets", "rotate")["resealed"] >= 1
    assert all(check["ok"] for check in parsed("doctor"))
    # No secret in any of it: the supplier's password, the key file's key.
    key = (tmp_path / "var" / "secret.key").read_text().strip()
    for out in outputs:
        assert PASSWORD not in out
        assert key not in out
