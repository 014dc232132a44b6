"""French and English invoice texts in the layouts PDF text layers come in, with answers.

Each sample states every field it expects; a field it does not name must come out None,
so a reader that invents values fails as surely as one that misses them.
"""

from __future__ import annotations

from dataclasses import dataclass

NBSP = "\u00a0"
NNBSP = "\u202f"


@dataclass(frozen=True, slots=True)
class TextSample:
    name: str
    text: str
    expected: dict[str, object]
    warnings: frozenset[str] = frozenset()
