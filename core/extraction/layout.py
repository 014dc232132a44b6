"""Lay a page's positioned words out as text lines whose columns follow the page.

Text rules pair a label with the value on its right on the same line, or with the value
below it in the same column. A PDF text layer or an OCR pass knows where every word sits,
but plain text loses it: pypdf's reading order puts "Sous-total / TVA / Total" in one
stack and their three amounts in the next, and OCR lines carry no columns at all.

So the words are grouped into visual rows (their vertical middles agree) and each row is
written out left to right: the words of a phrase one space apart, and each word after a
column gap at the column its left edge has on the page (one column per `unit` of width).
A label and its value on one row stay on one line; a value printed under its label lands
in the same character column on the next line, where `core.extraction.labels` looks for
it. Two columns of the page are at least two spaces
apart, which the rules read as a gap between parts (a sender line, a table's cells).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """A word or run of words on a page, in page units, with y growing downwards."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    confidence: float = 1.0

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class Row:
    """One visual line of a page: its words left to right and their laid-out text."""

    words: tuple[Word, ...]
    text: str

    @property
    def confidence(self) -> float:
        return sum(w.confidence for w in self.words) / len(self.words) if self.words else 0.0


# Words whose middles are closer than this share of their height are on one row.
_SAME_ROW = 0.5
# A gap narrower than this share of the text height is inside a phrase.
_WORD_GAP = 0.6
# A gap as wide as this share of the height separates two columns: two spaces at least.
_COLUMN_GAP = 1.5


def group_rows(words: Iterable[Word]) -> list[list[Word]]:
    """Group words into visual rows, top to bottom, each row left to right."""
    rows: list[list[Word]] = []
    middles: list[float] = []
    heights: list[float] = []
    for word in sorted(words, key=lambda w: (w.middle, w.x0)):
        if not word.text.strip():
            continue
        if rows and abs(word.middle - middles[-1]) <= _SAME_ROW * max(heights[-1], word.height):
            rows[-1].append(word)
            count = len(rows[-1])
            # A running mean keeps a long row from drifting away from its first word.
            middles[-1] += (word.middle - middles[-1]) / count
            heights[-1] = max(heights[-1], word.height)
            continue
        rows.append([word])
        middles.append(word.middle)
        heights.append(word.height)
    return [sorted(row, key=lambda w: w.x0) for row in rows]


def lay_out(words: Iterable[Word], *, unit: float) -> list[Row]:
    """The page's rows, each written with its words at their page columns."""
    return [Row(tuple(row), row_text(row, unit)) for row in group_rows(words)]


# A run of text set sideways (a legal line up a page's margin) comes as one run per
# character, stacked in a column; this many in a row are such a line, not a table's digits.
_MIN_VERTICAL_RUNS = 8


def split_vertical(runs: Sequence[Word]) -> tuple[list[Word], list[str]]:
    """Separate text set sideways from the page's rows: each sideways line, as text.

    The runs come in the text layer's own order, which is the reading order of a sideways
    line; laid out as rows, its letters would stand one per line.
    """
    kept: list[Word] = []
    lines: list[str] = []
    column: list[Word] = []

    def close() -> None:
        if len(column) >= _MIN_VERTICAL_RUNS:
            lines.append("".join(w.text for w in column).strip())
        else:
            kept.extend(column)
        column.clear()

    for run in runs:
        single = len(run.text.strip()) <= 1
        stacked = bool(column) and run.x0 < column[-1].x1 and column[-1].x0 < run.x1
        if single and (not column or stacked):
            column.append(run)
            continue
        close()
        if single:
            column.append(run)
        else:
            kept.append(run)
    close()
    return kept, lines


def row_text(row: Sequence[Word], unit: float, *, separate: bool = False) -> str:
    """One row's words written at their columns; `separate` when each word stands apart
    (OCR's words), not a text layer's runs that may split one word."""
    text = ""
    previous: Word | None = None
    for word in row:
        piece = word.text.strip()
        if previous is None:
            text = " " * int(word.x0 / unit) + piece
        else:
            gap = word.x0 - previous.x1
            height = max(previous.height, word.height, 1e-6)
            # pdfium ends a run with a space where a word ends ("INVOICE " + "DATE"); runs
            # with no space between are one word split by uneven letter spacing ("11/15/20"
            # + "19").
            spaced = word.text[:1].isspace() or previous.text[-1:].isspace()
            if gap < _WORD_GAP * height and not spaced and not separate:
                text += piece
            elif gap < _COLUMN_GAP * height:
                # Within a phrase or a number ("1 560,00"): one space, whatever the column.
                text += " " + piece
            else:
                column = int(word.x0 / unit)
                text += " " * max(2, column - len(text)) + piece
        previous = word
    return text.rstrip()
