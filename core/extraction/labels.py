"""Pair labels ("Total HT", "Échéance") with the values written after them in plain text.

PDF text comes in three common layouts, all handled here:
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
    hits = [
        Hit(label.kind, label.priority, m.start(), m.end())
        for label in labels
        for m in label.pattern.finditer(line)
    ]
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    return kept


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
