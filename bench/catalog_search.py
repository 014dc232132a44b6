"""Latency benchmark for the catalog search: ``python -m bench.catalog_search``.

Builds a 5,000-entry catalog (the real entries plus generated, plausible suppliers with
accents and aliases), replays ~2,000 mixed queries (exact names, aliases, typed prefixes,
accented/upper-cased spellings, one-typo misspellings, word prefixes) and reports per-query
latency. A naive baseline — rapidfuzz ``process.extract`` with ``WRatio`` and
``utils.default_process`` over the raw names, the first thing one would write — runs on a
sample of the same queries in the same process for comparison.

The last two lines are machine-readable::

    catalog_search_p99_ms=<p99> target<=2.0
    speedup_vs_naive=<naive median / indexed median>
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from rapidfuzz import fuzz, process, utils

from core.catalog import CatalogEntry, CatalogIndex, load_entries

CATALOG_SIZE = 5_000
QUERY_COUNT = 2_000
BASELINE_SAMPLE = 300
WARMUP_QUERIES = 200
TARGET_P99_MS = 2.0
SEED = 20_240_611

# Space-separated to keep the tables short; split once below.
_SYLLABLE_TEXT = (
    "ka lo ver tec sol mar ix on ber dan tel no va ré é ga zu pri mo lin sa tor qua fi del ça "
    "bri ko mé nor vi al stra ly gé ho ru pel ax"
)
_SUFFIX_TEXT = (
    "Télécom Énergie Cloud Services Solutions Logistique Assurances Banque Digital Market "
    "Fournitures Express Mobilité Hosting Software Électricité Eau Voyages Conseil Group"
)
_SYLLABLES = tuple(_SYLLABLE_TEXT.split())
_SUFFIXES = tuple(_SUFFIX_TEXT.split())
_QUALIFIERS = ("Pro", "Business", "(particuliers)", "Entreprises", "UK", "France", "US")


def _coined_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def synthetic_catalog(
    real: Sequence[CatalogEntry], size: int, rng: random.Random
) -> list[CatalogEntry]:
    """The real entries plus generated ones up to ``size``, with unique keys and names."""
    entries = list(real)
    names = {entry.name.casefold() for entry in entries}
    template = real[0]
    while len(entries) < size:
        brand = _coined_word(rng)
        parts = [brand]
        if rng.random() < 0.35:
            parts.append(_coined_word(rng))
        parts.append(rng.choice(_SUFFIXES))
        if rng.random() < 0.3:
            parts.append(rng.choice(_QUALIFIERS))
        name = " ".join(parts)
        if name.casefold() in names:
            continue
        names.add(name.casefold())
        aliases = [brand.lower()]
        if len(parts) > 2:
            aliases.append("".join(part[0] for part in parts if part[0].isalpha()).lower())
        if rng.random() < 0.4:
            aliases.append(f"{brand.lower()} {rng.choice(_SUFFIXES).lower()}")
        entries.append(
            replace(
                template,
                key=f"synthetic-{len(entries)}",
                name=name,
                aliases=tuple(dict.fromkeys(aliases)),
            )
        )
    return entries


def _typo(word: str, rng: random.Random) -> str:
    position = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "replace", "insert"))
    if kind == "swap":
        return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    if kind == "drop":
        return word[:position] + word[position + 1 :]
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if kind == "replace":
        return word[:position] + letter + word[position + 1 :]
    return word[:position] + letter + word[position:]


_ACCENTS = str.maketrans({"e": "é", "a": "à", "o": "ô", "i": "î", "u": "ü", "c": "ç"})


def make_queries(
    entries: Sequence[CatalogEntry], count: int, rng: random.Random
) -> list[tuple[str, str]]:
    """(kind, query) pairs drawn from the catalog, like a user typing supplier names."""
    queries: list[tuple[str, str]] = []
    while len(queries) < count:
        entry = rng.choice(entries)
        name = entry.name
        kind = rng.choice(("exact", "alias", "prefix", "accented", "typo", "words"))
        if kind == "alias" and entry.aliases:
            query = rng.choice(entry.aliases)
        elif kind == "prefix":
            query = name[: rng.randint(2, min(8, len(name)))]
        elif kind == "accented":
            query = name.lower().translate(_ACCENTS) if rng.random() < 0.5 else name.upper()
        elif kind == "typo" and len(name) >= 5:
            query = _typo(name, rng)
        elif kind == "words" and " " in name:
            first, second = name.split()[:2]
            query = f"{second[: rng.randint(2, len(second))]} {first[:4]}"
        else:
            kind, query = "exact", name
        queries.append((kind, query))
    return queries


def _time_ms(run: Callable[[str], object], queries: Sequence[str]) -> list[float]:
    timings: list[float] = []
    clock = time.perf_counter_ns
    for query in queries:
        start = clock()
        run(query)
        timings.append((clock() - start) / 1e6)
    return timings


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _summary(label: str, timings: Sequence[float]) -> str:
    return (
        f"{label:<28} n={len(timings):>5}  median={statistics.median(timings):.3f} ms  "
        f"p90={_percentile(timings, 0.90):.3f} ms  p99={_percentile(timings, 0.99):.3f} ms  "
        f"max={max(timings):.3f} ms"
    )


def main() -> None:
    rng = random.Random(SEED)
    real = load_entries()
    catalog = synthetic_catalog(real, CATALOG_SIZE, rng)

    started = time.perf_counter()
    index = CatalogIndex(catalog)
    build_ms = (time.perf_counter() - started) * 1e3
    print(f"catalog: {len(real)} real + {len(index) - len(real)} synthetic = {len(index)} entries")
    print(f"index build: {build_ms:.1f} ms")

    queries = make_queries(catalog, QUERY_COUNT, rng)
    texts = [query for _, query in queries]

    def indexed(query: str) -> object:
        return index.search(query, limit=10)

    raw_names = [entry.name for entry in catalog]

    def naive(query: str) -> object:
        return process.extract(
            query, raw_names, scorer=fuzz.WRatio, processor=utils.default_process, limit=10
        )

    _time_ms(indexed, [query for _, query in make_queries(catalog, WARMUP_QUERIES, rng)])
    gc.collect()
    timings = _time_ms(indexed, texts)

    print(_summary("indexed, all queries", timings))
    by_kind: dict[str, list[float]] = {}
    for (kind, _), elapsed in zip(queries, timings, strict=True):
        by_kind.setdefault(kind, []).append(elapsed)
    for kind in sorted(by_kind):
        print(_summary(f"  indexed, {kind}", by_kind[kind]))

    sample = rng.sample(range(len(texts)), BASELINE_SAMPLE)
    sample_texts = [texts[position] for position in sample]
    naive_timings = _time_ms(naive, sample_texts)
    indexed_sample = [timings[position] for position in sample]
    print(_summary("naive WRatio, sample", naive_timings))
    print(_summary("indexed, same sample", indexed_sample))

    p99 = _percentile(timings, 0.99)
    speedup = statistics.median(naive_timings) / statistics.median(indexed_sample)
    p99_ratio = _percentile(naive_timings, 0.99) / _percentile(indexed_sample, 0.99)
    print(f"p99 ratio naive/indexed on the sample: {p99_ratio:.1f}x")
    print(f"catalog_search_p99_ms={p99:.2f} target<={TARGET_P99_MS}")
    print(f"speedup_vs_naive={speedup:.1f}")


if __name__ == "__main__":
    main()
