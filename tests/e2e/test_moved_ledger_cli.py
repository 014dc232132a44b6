"""The bakery moves its books to another folder: `courier integration reconnect --ledger`
follows them there, and a different ledger with the same file name is refused by its path."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.test_accounting_cli import Courier, _invoice
from tests.e2e.test_accounting_cli import courier as courier  # the fixture
from tests.integration.accounting.conftest import LEDGER, bean_check

WS = ("--workspace", "boulangerie-dupont")
UNTITLED = LEDGER.replace('option "title" "Boulangerie Dupont"\n', "")


def _publish(courier: Courier, folder: Path, name: str, day: str) -> None:
    added = courier(
        "inbox",
        "add",
        *WS,
        str(_invoice(folder, name)),
        "--supplier",
        "EDF Entreprises",
        "--date",
        day,
        "--amount",
        "42.00",
        "--json",
    )
    assert added.code == 0, added.err
    sent = courier("publish", *WS, "--document", str(added.json()["id"]), "--json").json()
    assert [r["state"] for r in sent] == ["published"]


def test_reconnect_follows_the_books_to_their_new_folder(courier: Courier, tmp_path: Path) -> None:
    assert courier("workspace", "create", "Boulangerie Dupont").code == 0
    books = tmp_path / "books"
    books.mkdir()
    (books / "main.beancount").write_text(UNTITLED, encoding="utf-8")
    assert (
        courier(
            "integration", "connect", *WS, "beancount", "--ledger", str(books / "main.beancount")
        ).code
        == 0
    )
    rule = courier(
        "rules", "set", *WS, "--supplier", "EDF Entreprises", "--account", "Expenses:Energy"
    )
    assert rule.code == 0, rule.err
    _publish(courier, tmp_path, "edf-nov.pdf", "2026-11-03")

    # Another ledger, also main.beancount: not these books. Both paths are named.
    other = tmp_path / "other"
    other.mkdir()
    (other / "main.beancount").write_text(UNTITLED, encoding="utf-8")
    refused = courier("integration", "reconnect", *WS, "--ledger", str(other / "main.beancount"))
    assert refused.code != 0
    line = refused.line()
    assert str(other / "main.beancount") in line
    assert str(books / "main.beancount") in line
    assert "courier integration change" in line

    # The books move (with their documents folder): reconnect follows them.
    moved = tmp_path / "archive" / "books"
    shutil.move(str(books), str(moved))
    again = courier("integration", "reconnect", *WS, "--ledger", str(moved / "main.beancount"))
    assert again.code == 0, again.err
    status = courier("integration", "status", *WS, "--json").json()
    assert (status["state"], status["company_id"]) == ("active", str(moved / "main.beancount"))
    _publish(courier, tmp_path, "edf-dec.pdf", "2026-12-03")
    text = (moved / "main.beancount").read_text(encoding="utf-8")
    assert text.startswith(UNTITLED)
    assert text.count("courier_key:") == 2
    bean_check(moved / "main.beancount")


def test_a_titled_ledger_with_nothing_published_yet_is_known_by_its_title(
    courier: Courier, tmp_path: Path
) -> None:
    assert courier("workspace", "create", "Boulangerie Dupont").code == 0
    first = tmp_path / "2026.beancount"
    first.write_text(LEDGER, encoding="utf-8")
    assert courier("integration", "connect", *WS, "beancount", "--ledger", str(first)).code == 0
    stranger = tmp_path / "martin.beancount"
    stranger.write_text(LEDGER.replace("Boulangerie Dupont", "Pâtisserie Martin"))
    refused = courier("integration", "reconnect", *WS, "--ledger", str(stranger))
    assert "Pâtisserie Martin, not Boulangerie Dupont" in refused.line()

    renamed = tmp_path / "compta.beancount"
    first.rename(renamed)
    again = courier("integration", "reconnect", *WS, "--ledger", str(renamed))
    assert again.code == 0, again.err
    status = courier("integration", "status", *WS, "--json").json()
    assert status["company_id"] == str(renamed)
