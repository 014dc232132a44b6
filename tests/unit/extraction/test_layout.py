"""Words with their boxes become text rows whose columns follow the page, so that labels
pair with the value beside them or under them, and the customer's block is told apart by
its label and its column."""

from __future__ import annotations

import re
from decimal import Decimal

from core.extraction.layout import Word, lay_out, split_vertical
from core.extraction.ocr import _lines
from core.extraction.text_header import find_buyer_blocks
from core.extraction.text_rules import read_text


def _word(text: str, x0: float, top: float, width: float | None = None) -> Word:
    return Word(text, x0, top, x0 + (width if width is not None else 5.0 * len(text)), top + 10)


def _text(words: list[Word]) -> str:
    return "\n".join(row.text for row in lay_out(words, unit=4.0))


def test_a_stack_of_labels_beside_a_stack_of_values_reads_as_label_value_rows() -> None:
    # The text layer's order: the three labels first, then the three amounts.
    words = [
        _word("Sous-total", 300, 100),
        _word("TVA 20 %", 300, 115),
        _word("Total TTC", 300, 130),
        _word("91,64 €", 500, 100),
        _word("18,33 €", 500, 115),
        _word("109,97 €", 500, 130),
    ]
    data = read_text(_text(words))
    assert data.total_excl_tax is not None
    assert data.total_excl_tax.value == Decimal("91.64")
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == Decimal("109.97")
    assert data.vat_lines is not None
    assert [(v.rate, v.base, v.amount) for v in data.vat_lines.value] == [
        (Decimal(20), Decimal("91.64"), Decimal("18.33"))
    ]


def test_a_value_under_its_label_lands_in_the_labels_column() -> None:
    words = [
        _word("Acme Ltd", 20, 20),
        _word("Invoice Date", 300, 60),
        _word("Due Date", 420, 60),
        _word("21/09/2026", 300, 75),
        _word("21/10/2026", 420, 75),
        _word("Total 120,00 €", 300, 200),
    ]
    text = _text(words)
    rows = text.splitlines()
    assert rows[1].index("Invoice Date") == rows[2].index("21/09/2026")
    data = read_text(text)
    assert data.issue_date is not None
    assert str(data.issue_date.value) == "2026-09-21"
    assert data.due_date is not None
    assert str(data.due_date.value) == "2026-10-21"


def test_runs_split_inside_a_word_are_joined_and_runs_ending_in_a_space_are_apart() -> None:
    words = [
        Word("11/15/20", 100, 10, 140, 20),
        Word("19", 141, 10, 150, 20),
        Word("INVOICE ", 200, 10, 240, 20),
        Word("DATE", 242, 10, 262, 20),
    ]
    assert re.fullmatch(r"11/15/2019\s{2,}INVOICE DATE", _text(words).strip())


def test_a_line_set_sideways_is_read_as_one_line_not_one_letter_per_row() -> None:
    letters = [Word(c, 10, 700 - 6 * i, 18, 706 - 6 * i) for i, c in enumerate("ACME SAS RCS")]
    body = [Word("Facture n° 12", 100, 50, 160, 60)]
    kept, sideways = split_vertical([*body, *letters])
    assert kept == body
    assert sideways == ["ACME SAS RCS"]


def test_ocr_words_are_laid_out_at_their_columns_with_numbers_kept_whole() -> None:
    def data(words: list[tuple[str, int, int]]) -> dict[str, list[object]]:
        return {
            "text": [w for w, _, _ in words],
            "conf": [95] * len(words),
            "block_num": [1] * len(words),
            "par_num": [1] * len(words),
            "line_num": [line for _, _, line in words],
            "left": [x for _, x, _ in words],
            "top": [line * 40 for _, _, line in words],
            "width": [20 * len(w) for w, _, _ in words],
            "height": [30] * len(words),
        }

    page = _lines(
        data(
            [
                ("Numero", 1000, 1),
                ("Documento", 1150, 1),
                ("54321", 1000, 2),
                ("Totale", 100, 3),
                ("1", 1000, 3),
                ("560,00", 1030, 3),
            ]
        )
    )
    rows = [line.text for line in page.lines]
    assert rows[0].index("Numero") == rows[1].index("54321")
    assert rows[2].endswith("1 560,00")


def test_the_customers_block_is_blanked_in_its_column_only() -> None:
    lines = [
        "Orange Demo Inc.                     Invoice Number  INV-0046",
        "Bill to                              Due Date        03/06/2026",
        "Bayside Wholesale                    Amount Due      273.13",
        "42 Harbour Road",
        "",
        "Customer  Bayside Wholesale",
    ]
    blocks = find_buyer_blocks(lines)
    assert "Bayside" not in "\n".join(blocks.lines)
    assert "Due Date        03/06/2026" in blocks.lines[1]
    assert "Amount Due      273.13" in blocks.lines[2]
    assert blocks.lines[0] == lines[0]
    assert "bayside wholesale" in blocks.names
