"""safe_filename keeps what a sender typed readable and strips what could do harm."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.filenames import MAX_FILENAME_BYTES, safe_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Facture_février.pdf", "Facture_février.pdf"),
        ("Reçu n°12 – été.pdf", "Reçu n°12 – été.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\paul\\Documents\\facture.pdf", "facture.pdf"),
        (".htaccess", "htaccess"),
        ("...", "document"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("fac\x00ture\r\n.pdf", "facture.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ("lpt1", "_lpt1"),
        ("nul.tar.gz", "_nul.tar.gz"),
        ('what?<is>"this"*.pdf', "what__is__this__.pdf"),
        ("  spaced   out  .pdf ", "spaced out.pdf"),
        ("facture.pdf.", "facture.pdf"),
    ],
)
def test_cleans_names(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", [None, "", "/", "\\\\", " \t ", "\x00\x01"])
def test_never_returns_empty(name: str | None) -> None:
    assert safe_filename(name) == "document"
    assert safe_filename(name, default="winmail.dat") == "winmail.dat"


def test_keeps_accents_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Facture_février.pdf")
    assert safe_filename(decomposed) == "Facture_février.pdf"


def test_trims_long_names_keeping_the_extension() -> None:
    name = "é" * 400 + ".pdf"
    safe = safe_filename(name)
    assert safe.endswith(".pdf")
    assert len(safe.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert safe.removesuffix(".pdf") == "é" * ((MAX_FILENAME_BYTES - 4) // 2)


@given(st.text(max_size=400))
def test_any_text_gives_a_safe_name(name: str) -> None:
    safe = safe_filename(name)
    assert safe
    assert len(safe.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert "/" not in safe
    assert "\\" not in safe
    assert not safe.startswith(".")
    assert all(unicodedata.category(char) not in {"Cc", "Cf"} for char in safe)
