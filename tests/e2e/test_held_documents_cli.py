"""The bakery publishes before it has told Courier where a supplier's invoices go: the
documents wait, and giving the supplier its account lets them go (as a user types it)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_accounting_cli import Courier, _invoice
from tests.e2e.test_accounting_cli import courier as courier  # the fixture
from tests.integration.accounting.conftest import LEDGER, bean_check

WS = ("--workspace", "boulangerie-dupont")


def _add(courier: Courier, folder: Path, name: str, supplier: str) -> int:
    added = courier(
        "inbox",
        "add",
        *WS,
        str(_invoice(folder, name)),
        "--supplier",
        supplier,
        "--date",
        "2026-11-03",
        "--amount",
        "60.00",
        "--json",
    )
    assert added.code == 0, added.err
    ident = added.json()["id"]
    held = courier("publish", *WS, "--document", str(ident), "--json").json()
    assert [(r["state"], r["reason_key"]) for r in held] == [("needs_review", "missing_account")]
    return int(ident)


def test_a_rule_given_later_lets_the_held_invoices_go(courier: Courier, tmp_path: Path) -> None:
    assert courier("workspace", "create", "Boulangerie Dupont").code == 0
    ledger = tmp_path / "main.beancount"
    ledger.write_text(LEDGER, encoding="utf-8")
    assert courier("integration", "connect", *WS, "beancount", "--ledger", str(ledger)).code == 0
    edf = _add(courier, tmp_path, "edf.pdf", "EDF Entreprises")
    orange = _add(courier, tmp_path, "orange.pdf", "Orange Pro")
    assert courier("publish", *WS, "--all-ready", "--json").json() == []

    # A rule without auto-publish: the invoice is no longer held, and --all-ready takes it.
    rule = courier(
        "rules", "set", *WS, "--supplier", "EDF Entreprises", "--account", "Expenses:Energy"
    )
    assert rule.code == 0, rule.err
    assert "1 held document(s) released: 0 published" in rule.out
    shown = courier("inbox", "show", *WS, str(edf), "--json").json()
    assert (shown["state"], shown["reason"]) == ("inbox", None)
    ready = courier("publish", *WS, "--all-ready", "--json").json()
    assert [(r["document"], r["state"]) for r in ready] == [(edf, "published")]

    # An auto-publish rule sends the supplier's held invoice at once.
    auto = courier(
        "rules",
        "set",
        *WS,
        "--supplier",
        "orange pro",
        "--account",
        "Expenses:Telecom",
        "--auto-publish",
    )
    assert auto.code == 0, auto.err
    assert "1 held document(s) released: 1 published" in auto.out
    assert courier("inbox", "show", *WS, str(orange), "--json").json()["state"] == "published"
    text = ledger.read_text(encoding="utf-8")
    assert text.count("courier_key:") == 2
    assert '"Orange Pro"' in text
    bean_check(ledger)

    # Nothing is left to review on a published invoice.
    review = courier("inbox", "review", *WS, str(orange))
    assert review.code == 0, review.err
    assert review.out.strip() == f"document {orange} is published: nothing to review"
    assert courier("inbox", "review", *WS, str(orange), "--json").json() is None
