"""A bookkeeper checks what Courier reads in a file, and what it read in a stored one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf


def _courier(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    return subprocess.run(
        [sys.executable, "-m", "courier", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_extract_reads_each_file_and_names_the_one_it_cannot(tmp_path: Path) -> None:
    invoice = tmp_path / "facture.pdf"
    invoice.write_bytes(build_pdf(visible_lines(BAKERY)))
    empty = tmp_path / "vide.pdf"
    empty.write_bytes(b"")
    done = _courier(tmp_path, "extract", str(invoice), str(empty), "--json")
    assert done.returncode == 1  # one file could not be read
    read, failed = json.loads(done.stdout)
    assert read["invoice_number"]["value"] == BAKERY.number
    assert read["invoice_number"]["source"] == "text"
    assert failed == {"file": str(empty), "error": failed["error"]}
    assert failed["error"]


def test_inbox_show_gives_a_documents_state_and_fields(tmp_path: Path) -> None:
    assert _courier(tmp_path, "workspace", "create", "Acme").returncode == 0
    invoice = tmp_path / "facture.pdf"
    invoice.write_bytes(build_pdf(visible_lines(BAKERY)))
    added: dict[str, Any] = json.loads(
        _courier(tmp_path, "inbox", "add", "--workspace", "acme", str(invoice), "--json").stdout
    )
    shown = _courier(tmp_path, "inbox", "show", "--workspace", "acme", str(added["id"]), "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert (document["filename"], document["state"]) == ("facture.pdf", "inbox")
    missing = _courier(tmp_path, "inbox", "show", "--workspace", "acme", "999")
    assert missing.returncode == 2
    assert "no document 999" in missing.stderr
