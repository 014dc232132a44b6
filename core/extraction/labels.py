"""Pair labels ("Total HT", "Échéance") with the values written after them in plain text.

Text comes laid out by position (core/extraction/layout.py): a row of the page per line,
columns apart by two spaces or more, a value under its label in the label's column. Three
layouts are handled here:
- label and value on one line, possibly several pairs per line ("HT 100,00  TTC 120,00");
- a label alone on a line with its value on the next line;
- a header row of labels followed by a row with one value per label (tables).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Positioned(Protocol):
    @property
    def start(self) -> int: ...


V = TypeVar("V", bound=Positioned)

IGNORE = "ignore"
# A bracketed qualifier after a gap still belongs to its label: "Netto  (zzgl. 19 % MwSt.)".
_COLUMN_GAP = re.compile(r"\S\s{2,}[^\s(]")


@dataclass(frozen=True, slots=True)
class Label:
    """A label pattern; `kind` names what it announces, IGNORE consumes text for nothing."""

    kind: str
    priority: int
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    priority: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Pairing(Generic[V]):
    """A label found on line `line` with the values that belong to it.

    `segment` is the label's own stretch of its line (up to the next label), where
    qualifiers such as a VAT rate are written; `zipped` tells the values came from the
    row below a header of labels.
    """

    hit: Hit
    line: int
    values: tuple[V, ...]
    segment: str
    zipped: bool


def find_labels(line: str, labels: Sequence[Label]) -> list[Hit]:
    """Return non-overlapping label hits; at one position the longest match wins."""
    hits = [hit for label in labels for hit in _phrase_hits(label, line)]
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    return kept


def _phrase_hits(label: Label, line: str) -> list[Hit]:
    """Where `label` is written in `line`, as one phrase.

    A laid-out row's column gap (two spaces or more) ends a label: "Date      Due Date" is
    two labels, not "date due". A match running over a gap is cut there if what is left
    is still the label ("Nettobetrag  (zzgl. 19 % MwSt.)"), else dropped, and the search
    goes on from its next character.
    """
    hits = []
    position = 0
    while (match := label.pattern.search(line, position)) is not None:
        gap = _COLUMN_GAP.search(match.group(0))
        if gap is None:
            hits.append(Hit(label.kind, label.priority, match.start(), match.end()))
            position = max(match.end(), match.start() + 1)
            continue
        cut = match.start() + gap.start() + 1
        if label.pattern.fullmatch(line, match.start(), cut):
            hits.append(Hit(label.kind, label.priority, match.start(), cut))
            position = cut
        else:
            position = match.start() + 1
    return hits


def pair_labels(
    lines: Sequence[str],
    labels: Sequence[Label],
    find_values: Callable[[str], list[V]],
) -> tuple[list[Pairing[V]], list[tuple[int, V]]]:
    """Pair every label hit with its values; also return values no label claimed."""
    pairings: list[Pairing[V]] = []
    unlabelled: list[tuple[int, V]] = []
    hits_by_line = [find_labels(line, labels) for line in lines]
    values_by_line = [find_values(line) for line in lines]
    zipped_lines: set[int] = set()

    for index, line in enumerate(lines):
        if index in zipped_lines:
            continue
        all_hits = hits_by_line[index]
        hits = [h for h in all_hits if h.kind != IGNORE]
        values = values_by_line[index]
        claimed: set[int] = set()
        line_pairings = []
        for position, hit in enumerate(all_hits):
            end = all_hits[position + 1].start if position + 1 < len(all_hits) else len(line)
            mine = [i for i, v in enumerate(values) if hit.end <= v.start < end]
            claimed.update(mine)
            if hit.kind != IGNORE:
                segment = line[hit.start : end]
                picked = tuple(values[i] for i in mine)
                line_pairings.append(Pairing(hit, index, picked, segment, False))
        unlabelled.extend((index, v) for i, v in enumerate(values) if i not in claimed)

        if hits and not any(p.values for p in line_pairings):
            following = _next_value_row(index, lines, hits_by_line, values_by_line, len(hits))
            if following is not None:
                zipped_lines.add(following)
                row = values_by_line[following]
                line_pairings = [
                    Pairing(p.hit, index, (v,), p.segment, True)
                    for p, v in zip(line_pairings, row, strict=True)
                ]
        pairings.extend(line_pairings)
    return pairings, unlabelled


def _next_value_row(
    index: int,
    lines: Sequence[str],
    hits_by_line: Sequence[list[Hit]],
    values_by_line: Sequence[Sequence[Positioned]],
    wanted: int,
) -> int | None:
    """The next non-blank line if it holds exactly `wanted` values and no label."""
    for following in range(index + 1, min(index + 3, len(lines))):
        if not lines[following].strip():
            continue
        if hits_by_line[following] or len(values_by_line[following]) != wanted:
            return None
        return following
    return None
