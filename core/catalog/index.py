"""In-memory search over the supplier catalog: what the user types → ranked suppliers.

Pure and I/O-free. Everything derivable from the entries (folded names, aliases, tokens,
their phonetic skeletons, sorted arrays for prefix scans) is computed once in the
constructor so a search only does dictionary look-ups, a few bisections and, when the
cheap tiers leave room, one rapidfuzz pass.

Ranking is tiered so that an exact hit can never lose to a fuzzy one:

* 100 / 99  the query is an entry's name / one of its aliases (accent- and case-blind);
* 97 / 96   same, compared on the phonetic skeleton ("AT&T" = "att", "easy jet" = "easyjet");
* 85..95    a name or alias starts with the query, more for longer coverage;
* 83..93    same on skeletons, which is what makes "boui" reach "Bouygues";
* 70..80    every query word starts some word of the entry ("telecom bouyg");
* below 70  typo-tolerant rapidfuzz match on names, aliases and single words.

Ties are broken by name, then key, so results are deterministic.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from core.catalog.entries import CatalogEntry

# NFKD leaves these letters whole; spell them the way a French or English user types them.
_LETTERS = str.maketrans(
    {"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d"}
    | {"ł": "l", "Ł": "l", "þ": "th", "Þ": "th", "ı": "i"}
)
_NOT_WORD = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"(.)\1+")

# Long pastes are never supplier names; capping bounds the fuzzy pass's cost.
_MAX_QUERY_CHARS = 80
# Below this many characters an edit is most of the word: fuzzy hits would be noise.
_MIN_FUZZY_CHARS = 4
_FUZZY_CUTOFF = 0.75
# Single letters ("a") would match a quarter of all words without telling anything.
_MIN_WORD_PREFIX_CHARS = 2

_SCORE_NAME = 100.0
_SCORE_ALIAS = 99.0
_SCORE_SKELETON_NAME = 97.0
_SCORE_SKELETON_ALIAS = 96.0
_PREFIX_BASE = 85.0
_SKELETON_PREFIX_BASE = 83.0
_WORD_PREFIX_BASE = 70.0
_PREFIX_SPAN = 10.0
_FUZZY_CEILING = 69.0
# A fuzzy hit on the whole name says more than one on an alias or on a single word.
_FUZZY_WEIGHT_NAME = 1.0
_FUZZY_WEIGHT_ALIAS = 0.97
_FUZZY_WEIGHT_WORD = 0.9


def fold(text: str) -> str:
    """Accent- and case-insensitive form: "Électricité  d'EDF!" → "electricite d edf"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_NOT_WORD.sub(" ", bare).split())


def _skeleton(folded: str) -> str:
    """Spacing- and spelling-blind key: "bouygues" ~ "bouigues", "easy jet" ~ "easyjet"."""
    squashed = folded.replace(" ", "").replace("ph", "f").replace("y", "i")
    return _REPEATS.sub(r"\1", squashed)


def _prefix_end(prefix: str) -> str:
    """Smallest string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True, slots=True)
class CatalogMatch:
    """One search hit; ``score`` is 0..100, higher is better."""

    entry: CatalogEntry
    score: float


class _SortedKeys:
    """Strings kept sorted with their owners, for prefix scans by bisection."""

    __slots__ = ("entries", "keys", "lengths")

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        ordered = sorted(set(pairs))
        self.keys = [key for key, _ in ordered]
        self.entries = [entry for _, entry in ordered]
        self.lengths = [len(key) for key in self.keys]

    def span(self, prefix: str) -> range:
        return range(
            bisect_left(self.keys, prefix),
            bisect_left(self.keys, _prefix_end(prefix)),
        )


class _FuzzyBucket:
    """Fuzzy candidates sharing one of their first two letters, sorted by length."""

    __slots__ = ("choices", "lengths", "owners")

    def __init__(self, items: Iterable[tuple[str, tuple[tuple[int, float], ...]]]) -> None:
        ordered = sorted(items, key=lambda item: (len(item[0]), item[0]))
        self.choices = [choice for choice, _ in ordered]
        self.lengths = [len(choice) for choice in self.choices]
        self.owners = [owners for _, owners in ordered]


class CatalogIndex:
    """Search index over a fixed set of catalog entries."""

    __slots__ = (
        "_entries",
        "_exact",
        "_fuzzy",
        "_rank",
        "_skeleton_exact",
        "_skeleton_terms",
        "_terms",
        "_word_owners",
        "_words",
    )

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        self._entries: tuple[CatalogEntry, ...] = tuple(entries)
        order = sorted(
            range(len(self._entries)),
            key=lambda i: (self._entries[i].name.casefold(), self._entries[i].key),
        )
        self._rank = [0] * len(self._entries)
        for position, index in enumerate(order):
            self._rank[index] = position

        self._exact: dict[str, dict[int, float]] = {}
        self._skeleton_exact: dict[str, dict[int, float]] = {}
        term_pairs: list[tuple[str, int]] = []
        skeleton_pairs: list[tuple[str, int]] = []
        word_owners: dict[str, set[int]] = {}
        fuzzy: dict[str, dict[int, float]] = {}

        for index, entry in enumerate(self._entries):
            terms = [(fold(entry.name), True)] + [(fold(alias), False) for alias in entry.aliases]
            for term, is_name in terms:
                if not term:
                    continue
                skeleton = _skeleton(term)
                _keep_best(
                    self._exact.setdefault(term, {}),
                    index,
                    _SCORE_NAME if is_name else _SCORE_ALIAS,
                )
                _keep_best(
                    self._skeleton_exact.setdefault(skeleton, {}),
                    index,
                    _SCORE_SKELETON_NAME if is_name else _SCORE_SKELETON_ALIAS,
                )
                term_pairs.append((term, index))
                skeleton_pairs.append((skeleton, index))
                _keep_best(
                    fuzzy.setdefault(term, {}),
                    index,
                    _FUZZY_WEIGHT_NAME if is_name else _FUZZY_WEIGHT_ALIAS,
                )
                for word in term.split():
                    word_owners.setdefault(_skeleton(word), set()).add(index)
                    if len(word) >= _MIN_FUZZY_CHARS - 1:
                        _keep_best(fuzzy.setdefault(word, {}), index, _FUZZY_WEIGHT_WORD)

        self._terms = _SortedKeys(term_pairs)
        self._skeleton_terms = _SortedKeys(skeleton_pairs)
        self._words = sorted(word_owners)
        self._word_owners = [tuple(sorted(word_owners[word])) for word in self._words]
        # Bucketing by leading letters keeps the fuzzy pass to a tenth of the candidates.
        # A single typo anywhere in the first two letters (swap, drop, insert, replace)
        # still leaves one of them in the other string's first two, so it is still found.
        buckets: dict[str, list[tuple[str, tuple[tuple[int, float], ...]]]] = {}
        for choice, owners in fuzzy.items():
            for letter in dict.fromkeys(choice[:2]):
                buckets.setdefault(letter, []).append((choice, tuple(owners.items())))
        self._fuzzy = {letter: _FuzzyBucket(items) for letter, items in buckets.items()}

    def __len__(self) -> int:
        return len(self._entries)

    def search(self, query: str, *, limit: int = 10) -> list[CatalogMatch]:
        """Best ``limit`` entries for ``query``, best first, each entry at most once."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        folded = fold(query[: _MAX_QUERY_CHARS * 2])[:_MAX_QUERY_CHARS].strip()
        if not folded:
            return []
        skeleton = _skeleton(folded)
        best: dict[int, float] = {}

        for index, score in self._exact.get(folded, {}).items():
            _keep_best(best, index, score)
        for index, score in self._skeleton_exact.get(skeleton, {}).items():
            _keep_best(best, index, score)
        self._scan_prefix(self._terms, folded, _PREFIX_BASE, best)
        self._scan_prefix(self._skeleton_terms, skeleton, _SKELETON_PREFIX_BASE, best)
        self._match_word_prefixes(folded, best)

        # Fuzzy scores sit below every other tier: once those filled the page, skip it.
        if len(best) < limit and len(folded) >= _MIN_FUZZY_CHARS:
            self._match_fuzzy(folded, limit, best)

        top = heapq.nsmallest(limit, best.items(), key=lambda hit: (-hit[1], self._rank[hit[0]]))
        return [CatalogMatch(self._entries[index], round(score, 2)) for index, score in top]

    @staticmethod
    def _scan_prefix(keys: _SortedKeys, prefix: str, base: float, best: dict[int, float]) -> None:
        size = len(prefix)
        lengths = keys.lengths
        owners = keys.entries
        for position in keys.span(prefix):
            _keep_best(best, owners[position], base + _PREFIX_SPAN * size / lengths[position])

    def _match_word_prefixes(self, folded: str, best: dict[int, float]) -> None:
        """Every query word must start some word of the entry, in any order."""
        words = [_skeleton(word) for word in folded.split()]
        if not words or min(map(len, words)) < _MIN_WORD_PREFIX_CHARS:
            return
        # entry → sum over the query words so far of how much of its word each one covers.
        coverage: dict[int, float] = {}
        for number, word in enumerate(words):
            found: dict[int, float] = {}
            start = bisect_left(self._words, word)
            stop = bisect_left(self._words, _prefix_end(word))
            for position in range(start, stop):
                ratio = len(word) / len(self._words[position])
                for index in self._word_owners[position]:
                    if (number == 0 or index in coverage) and found.get(index, 0.0) < ratio:
                        found[index] = ratio
            if number == 0:
                coverage = found
            else:
                coverage = {index: coverage[index] + ratio for index, ratio in found.items()}
            if not coverage:
                return
        for index, total in coverage.items():
            _keep_best(best, index, _WORD_PREFIX_BASE + _PREFIX_SPAN * total / len(words))

    def _match_fuzzy(self, folded: str, limit: int, best: dict[int, float]) -> None:
        # A similarity of at least the cutoff bounds the length difference, so only a
        # slice of each length-sorted bucket can match.
        size = len(folded)
        shortest = math.ceil(size * _FUZZY_CUTOFF - 1e-9)
        longest = math.floor(size / _FUZZY_CUTOFF + 1e-9)
        for letter in dict.fromkeys(folded[:2]):
            bucket = self._fuzzy.get(letter)
            if bucket is None:
                continue
            start = bisect_left(bucket.lengths, shortest)
            stop = bisect_right(bucket.lengths, longest)
            if start == stop:
                continue
            # OSA counts a swapped pair as one edit: "ornage" is one typo from "orange" but
            # two from "vonage", where the Indel-based fuzz.ratio scores both alike.
            # processor=None: the choices were folded at build time, the query above.
            hits = process.extract(
                folded,
                bucket.choices[start:stop],
                scorer=OSA.normalized_similarity,
                processor=None,
                score_cutoff=_FUZZY_CUTOFF,
                limit=limit * 2,
            )
            for _choice, similarity, position in hits:
                for index, weight in bucket.owners[start + position]:
                    _keep_best(best, index, _FUZZY_CEILING * weight * similarity)


def _keep_best(scores: dict[int, float], index: int, score: float) -> None:
    if scores.get(index, -1.0) < score:
        scores[index] = score
