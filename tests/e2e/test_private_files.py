"""Security issue #13, part 5: what Courier keeps at rest is its user's only. A fresh
install made the database 0644 and its folders 0755; now 0600 and 0700, and
`courier doctor` says when the key or the database can be read by others."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.e2e.test_cli import PDF, Courier
from tests.e2e.test_cli import courier as courier  # the fixture


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_install_keeps_its_files_to_itself(courier: Courier) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    invoice = courier.home / "invoice.pdf"
    invoice.write_bytes(PDF)
    assert courier("inbox", "add", "--workspace", "acme", str(invoice)).code == 0

    data = courier.home / "var"
    assert _mode(data) == 0o700
    assert _mode(data / "courier.db") == 0o600
    assert _mode(data / "secret.key") == 0o600
    stored = list((data / "documents").rglob("*"))
    assert stored, "the invoice was stored"
    assert _mode(data / "documents") == 0o700
    for path in stored:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path

    healthy = courier("doctor", "--json").json()
    assert {c["check"]: c["ok"] for c in healthy}["private"] is True


def test_doctor_warns_when_the_key_or_the_database_can_be_read_by_others(
    courier: Courier,
) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    data = courier.home / "var"
    for name in ("courier.db", "secret.key"):
        (data / name).chmod(0o644)
        told = courier("doctor")
        assert told.code == 1
        [line] = [line for line in told.out.splitlines() if "private" in line]
        assert line.startswith("FAIL")
        assert f"{data / name} can be read by others" in line
        (data / name).chmod(0o600)
    assert courier("doctor").code == 0
