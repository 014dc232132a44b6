"""A bookkeeper checks what Courier reads in a file, and what it read in a stored one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.forkserver import run_courier
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.image_builders import photograph, scanned_pdf
from tests.unit.extraction.pdf_builders import build_pdf


def _courier(home: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    if path is not None:
        env["PATH"] = path
    return run_courier(*args, cwd=home, env=env, timeout=120)


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


def test_extract_reads_a_crooked_photo_and_a_scan_by_ocr(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photograph(BAKERY, angle=-4.0))
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_pdf(BAKERY))
    done = _courier(tmp_path, "extract", str(photo), str(scan), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    for read in json.loads(done.stdout):
        assert read["total_incl_tax"]["value"] == str(BAKERY.total_incl)
        assert read["total_incl_tax"]["source"] == "ocr"
        assert read["invoice_number"]["value"] == BAKERY.number


def test_without_tesseract_a_photo_says_ocr_is_unavailable_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photograph(BAKERY))
    invoice = tmp_path / "facture.pdf"
    invoice.write_bytes(build_pdf(visible_lines(BAKERY)))
    # A PATH with Python's directory only: what `make run` sees on a machine without it.
    done = _courier(
        tmp_path,
        "extract",
        str(photo),
        str(invoice),
        "--json",
        path=str(Path(sys.executable).parent),
    )
    assert done.returncode == 1
    failed, read = json.loads(done.stdout)
    assert failed == {"file": str(photo), "error": "ocr_unavailable"}
    assert read["total_incl_tax"]["value"] == str(BAKERY.total_incl)
    assert "Traceback" not in done.stderr


def test_inbox_review_asks_one_question_at_a_time_and_takes_answers(tmp_path: Path) -> None:
    assert _courier(tmp_path, "workspace", "create", "Acme").returncode == 0
    invoice = tmp_path / "facture.pdf"
    invoice.write_bytes(build_pdf(visible_lines(BAKERY)))
    added = json.loads(
        _courier(tmp_path, "inbox", "add", "--workspace", "acme", str(invoice), "--json").stdout
    )
    ident = str(added["id"])
    asked = _courier(tmp_path, "inbox", "review", "--workspace", "acme", ident, "--json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["key"] == "review.ask.supplier_name"

    wrong = _courier(
        tmp_path, "inbox", "review", "--workspace", "acme", ident, "--answer", "total_incl_tax=lots"
    )
    assert wrong.returncode == 2
    assert "total_incl_tax" in wrong.stderr
    assert "not_an_amount" in wrong.stderr

    answered = _courier(
        tmp_path,
        "inbox",
        "review",
        "--workspace",
        "acme",
        ident,
        "--answer",
        "supplier_name=Boulangerie Dupont SAS",
        "--json",
    )
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["field"] == "total_incl_tax"
