"""`courier inbox add` takes the same kinds of file as the chat and mail (issue #14,
finding 17): the command line once took a `.txt` the chat refused, and nothing ever read it."""

from __future__ import annotations

from tests.e2e.test_cli import PDF, Courier, _one_line, courier

__all__ = ["courier"]  # the fixture: the command in a fresh data folder


def test_a_file_courier_does_not_read_is_refused_in_one_line_naming_what_it_reads(
    courier: Courier,
) -> None:
    assert courier("workspace", "create", "Acme").code == 0
    notes = courier.home / "notes.txt"
    notes.write_text("Farine: 42 EUR\n", encoding="utf-8")
    refused = courier("inbox", "add", "--workspace", "acme", str(notes))
    assert refused.code == 2
    line = _one_line(refused)
    assert "notes.txt" in line
    assert "PDF, XML, JPEG, PNG, TIFF, WebP, GIF" in line
    assert courier("inbox", "list", "--workspace", "acme", "--json").json() == []
    assert not (courier.home / "var" / "documents").exists() or not any(
        p.is_file() for p in (courier.home / "var" / "documents").rglob("*")
    )

    invoice = courier.home / "facture.pdf"
    invoice.write_bytes(PDF)
    assert courier("inbox", "add", "--workspace", "acme", str(invoice)).code == 0
