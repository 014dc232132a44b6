"""The bakery links its Beancount ledger and publishes from the command line, as a user
types it (`python -m courier` in a real process); Beancount checks the ledger after every
step, and the bookkeeper's own lines stay byte for byte."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.forkserver import run_courier
from tests.integration.accounting.conftest import LEDGER, bean_check

PDF = b"%PDF-1.4\n%% %s\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def line(self) -> str:
        lines = [x for x in self.err.strip().splitlines() if " WARNING " not in x]
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        return lines[0]


@dataclass(frozen=True, slots=True)
class Courier:
    home: Path
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str = "") -> Result:
        done = run_courier(*args, cwd=self.home, env=self.env, stdin=stdin)
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def courier(tmp_path: Path) -> Courier:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return Courier(tmp_path, env)


def _invoice(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(PDF.replace(b"%s", name.encode()))
    return path


def test_the_bakery_publishes_its_invoices_to_its_ledger(courier: Courier, tmp_path: Path) -> None:
    assert courier("workspace", "create", "Boulangerie Dupont").code == 0
    ws = ("--workspace", "boulangerie-dupont")
    books = tmp_path / "books"
    books.mkdir()
    ledger = books / "main.beancount"
    ledger.write_text(LEDGER, encoding="utf-8")

    # A ledger that does not exist, or that Beancount refuses, is refused with its words.
    missing = courier("integration", "connect", *ws, "beancount", "--ledger", str(books / "no"))
    assert missing.code == 2
    assert "does not exist" in missing.line()
    broken = books / "broken.beancount"
    broken.write_text(
        '2026-01-01 open Assets:Bank EUR\n2026-01-02 * "x"\n  Expenses:Gone 1 EUR\n  Assets:Bank\n'
    )
    refused = courier("integration", "connect", *ws, "beancount", "--ledger", str(broken))
    assert refused.code == 2
    assert "Invalid reference to unknown account 'Expenses:Gone'" in refused.line()

    linked = courier("integration", "connect", *ws, "beancount", "--ledger", str(ledger))
    assert linked.code == 0, linked.err
    assert "active" in linked.out
    status = courier("integration", "status", *ws, "--json").json()
    assert (status["software"], status["state"]) == ("beancount", "active")
    assert {row["list"]: row["count"] for row in status["lists"]} == {
        "accounts": 6,
        "suppliers": 1,
        "tax_rates": 1,
    }
    bean_check(ledger)

    ghost = courier(
        "rules", "set", *ws, "--supplier", "EDF Entreprises", "--account", "Expenses:Nowhere"
    )
    assert ghost.code == 2
    assert "'Expenses:Nowhere' is not in the software's accounts" in ghost.line()
    rule = courier(
        "rules",
        "set",
        *ws,
        "--supplier",
        "EDF Entreprises",
        "--account",
        "Expenses:Energy",
        "--tax-rate",
        "Assets:VAT:Deductible",
    )
    assert rule.code == 0, rule.err
    rules = courier("rules", "list", *ws, "--json").json()
    assert [(r["supplier"], r["account"], r["flagged"]) for r in rules] == [
        ("EDF Entreprises", "Expenses:Energy", None)
    ]

    bad_amount = courier(
        "inbox", "add", *ws, str(_invoice(tmp_path, "x.pdf")), "--amount", "12,345"
    )
    assert bad_amount.code == 2
    assert "at most 2 decimals" in bad_amount.err

    first = courier(
        "inbox",
        "add",
        *ws,
        str(_invoice(tmp_path, "edf-nov.pdf")),
        "--supplier",
        "EDF Entreprises",
        "--date",
        "2026-11-03",
        "--amount",
        "120.00",
        "--currency",
        "eur",
        "--json",
    ).json()
    no_amount = courier(
        "inbox",
        "add",
        *ws,
        str(_invoice(tmp_path, "edf-dec.pdf")),
        "--supplier",
        "EDF Entreprises",
        "--date",
        "2026-12-03",
        "--json",
    ).json()
    assert first["published"] is None  # no auto-publish yet

    ready = courier("publish", *ws, "--all-ready", "--json")
    assert ready.code == 0, ready.err
    assert [(r["document"], r["state"]) for r in ready.json()] == [(first["id"], "published")]
    text = ledger.read_text(encoding="utf-8")
    assert text.startswith(LEDGER)
    assert '2026-11-03 * "EDF Entreprises"' in text
    bean_check(ledger)

    review = courier("publish", *ws, "--document", str(no_amount["id"]), "--json").json()
    assert [(r["state"], r["reason_key"]) for r in review] == [("needs_review", "missing_total")]
    assert ledger.read_text(encoding="utf-8") == text

    # Published again: still one entry.
    again = courier("publish", *ws, "--document", str(first["id"]), "--json").json()
    assert again[0]["state"] == "published"
    assert ledger.read_text(encoding="utf-8") == text

    auto = courier(
        "rules",
        "set",
        *ws,
        "--supplier",
        "EDF Entreprises",
        "--account",
        "Expenses:Energy",
        "--auto-publish",
    )
    assert auto.code == 0
    third = courier(
        "inbox",
        "add",
        *ws,
        str(_invoice(tmp_path, "edf-jan.pdf")),
        "--supplier",
        "EDF Entreprises",
        "--date",
        "2027-01-03",
        "--amount",
        "80.10",
        "--json",
    ).json()
    assert third["published"] == "published"
    assert ledger.read_text(encoding="utf-8").count("courier_key:") == 2
    bean_check(ledger)

    refreshed = courier("integration", "refresh", *ws, "--list", "accounts", "--json")
    assert refreshed.code == 0, refreshed.err
    assert refreshed.json()["lists"] == [{"list": "accounts", "count": 6}]
    unknown = courier("integration", "refresh", *ws, "--list", "planets")
    assert unknown.code == 2

    off = courier("integration", "disconnect", *ws, "--keep-rules")
    assert off.code == 0, off.err
    assert courier("integration", "status", *ws, "--json").json()["software"] is None
    assert len(courier("rules", "list", *ws, "--json").json()) == 1
    assert len(courier("inbox", "list", *ws, "--json").json()) == 3
    assert ledger.read_text(encoding="utf-8").startswith(LEDGER)
    bean_check(ledger)
    nothing = courier("publish", *ws, "--all-ready")
    assert nothing.code == 2
    assert "no accounting software linked" in nothing.line()
