"""Search behaviour of the supplier catalog index."""

from __future__ import annotations

import pytest

from core.catalog import CatalogEntry, CatalogIndex, fold, load_entries


def _entry(key: str, name: str, *aliases: str) -> CatalogEntry:
    return CatalogEntry(
        key=key,
        name=name,
        aliases=aliases,
        portal="both",
        portal_url=f"https://{key}.example",
        category="other",
        countries=("FR",),
        domains=(f"{key}.example",),
        connector_kind="portal",
        connector_available=False,
        twofa=(),
    )


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return CatalogIndex(load_entries())


def _keys(index: CatalogIndex, query: str, limit: int = 10) -> list[str]:
    return [match.entry.key for match in index.search(query, limit=limit)]


# --- fold ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Électricité de France", "electricite de france"),
        ("ÉDF", "edf"),
        ("  Bouygues\tTélécom  ", "bouygues telecom"),
        ("AT&T", "at t"),
        ("Sainsbury's", "sainsbury s"),
        ("Œuvre Straße", "oeuvre strasse"),
        ("Bureau Vallée—Pro!", "bureau vallee pro"),
        ("!!!", ""),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


# --- the real catalog ---------------------------------------------------------------


def test_index_length_is_the_number_of_entries(index: CatalogIndex) -> None:
    assert len(index) == len(load_entries())


def test_alias_ranks_both_edf_portals_first(index: CatalogIndex) -> None:
    assert set(_keys(index, "edf")[:2]) == {"edf", "edf-entreprises"}


@pytest.mark.parametrize("query", ["ÉDF", "Edf", "EDF", " edf "])
def test_search_ignores_accents_and_case(index: CatalogIndex, query: str) -> None:
    assert _keys(index, query) == _keys(index, "edf")


def test_unaccented_query_finds_accented_name(index: CatalogIndex) -> None:
    keys = _keys(index, "electricite")
    assert "totalenergies-electricite" in keys
    assert "edf" in keys


def test_accented_query_finds_unaccented_alias(index: CatalogIndex) -> None:
    assert set(_keys(index, "Électricité de France")[:2]) == {"edf", "edf-entreprises"}


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("ornage", {"orange", "orange-pro", "orange-es", "orange-be"}),
        ("scalway", {"scaleway"}),
        ("amazn busines", {"amazon-business"}),
        ("chronpost", {"chronopost"}),
        ("wetransfr", {"wetransfer"}),
    ],
)
def test_typos_still_find_the_supplier(
    index: CatalogIndex, query: str, expected_first: set[str]
) -> None:
    assert _keys(index, query)[0] in expected_first


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("boui", {"bouygues-telecom", "bouygues-telecom-entreprises"}),
        ("bouyg", {"bouygues-telecom", "bouygues-telecom-entreprises"}),
        ("scal", {"scaleway"}),
        ("amazon bu", {"amazon-business"}),
        ("sfr busi", {"sfr-business"}),
    ],
)
def test_prefix_typing_finds_the_supplier(
    index: CatalogIndex, query: str, expected_first: set[str]
) -> None:
    assert _keys(index, query)[0] in expected_first


def test_words_typed_in_any_order(index: CatalogIndex) -> None:
    assert set(_keys(index, "telecom bouyg")[:2]) == {
        "bouygues-telecom",
        "bouygues-telecom-entreprises",
    }


def test_spacing_and_punctuation_do_not_matter(index: CatalogIndex) -> None:
    assert _keys(index, "easy jet")[0] == "easyjet"
    assert set(_keys(index, "att")[:2]) == {"att", "att-business"}
    assert set(_keys(index, "at&t")[:2]) == {"att", "att-business"}


def test_pro_and_personal_portals_both_show(index: CatalogIndex) -> None:
    keys = _keys(index, "orange")
    assert {"orange", "orange-pro"} <= set(keys)
    keys = _keys(index, "amazon")
    assert {"amazon", "amazon-business"} <= set(keys)


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "!!!", "—"])
def test_blank_query_returns_nothing(index: CatalogIndex, query: str) -> None:
    assert index.search(query) == []


@pytest.mark.parametrize("query", ["amazon", "a", "free", "google", "orange pro", "microsft"])
def test_results_are_unique_bounded_and_sorted(index: CatalogIndex, query: str) -> None:
    matches = index.search(query, limit=40)
    keys = [match.entry.key for match in matches]
    scores = [match.score for match in matches]
    assert len(keys) == len(set(keys))
    assert len(matches) <= 40
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < score <= 100.0 for score in scores)


def test_limit_is_applied(index: CatalogIndex) -> None:
    assert len(index.search("a", limit=3)) == 3


def test_limit_must_be_positive(index: CatalogIndex) -> None:
    with pytest.raises(ValueError, match="limit"):
        index.search("edf", limit=0)


def test_unknown_supplier_finds_nothing(index: CatalogIndex) -> None:
    assert index.search("zqxwvkjh") == []


# --- ranking on a controlled catalog ------------------------------------------------


def test_exact_beats_alias_beats_prefix_beats_fuzzy() -> None:
    index = CatalogIndex(
        [
            _entry("clound", "Clound"),  # one typo away from the query
            _entry("cloudflare", "Cloudflare"),  # starts with the query
            _entry("alto", "Altostratus", "cloud"),  # alias equals the query
            _entry("cloud", "Cloud"),  # name equals the query
            _entry("unrelated", "Unrelated"),
        ]
    )
    matches = index.search("cloud")
    # Name order alone would put "Altostratus" first: only the tiers explain this order.
    assert [match.entry.key for match in matches] == ["cloud", "alto", "cloudflare", "clound"]
    assert matches[0].score == 100.0
    assert matches[0].score > matches[1].score > matches[2].score > matches[3].score


def test_a_strong_fuzzy_match_never_outranks_a_weak_prefix() -> None:
    # The long name barely starts with the query; "Supermarkat" is one letter off.
    index = CatalogIndex(
        [
            _entry("typo", "Supermarkat"),
            _entry("long", "Supermarketplace Extraordinaire Holdings International"),
        ]
    )
    assert [match.entry.key for match in index.search("supermarket")] == ["long", "typo"]


def test_ties_are_ordered_by_name() -> None:
    index = CatalogIndex(
        [
            _entry("zeta", "Zeta Pro", "acme"),
            _entry("alpha", "Alpha Corp", "acme"),
            _entry("mid", "mid market", "acme"),
        ]
    )
    matches = index.search("acme")
    assert [match.entry.name for match in matches] == ["Alpha Corp", "mid market", "Zeta Pro"]
    assert len({match.score for match in matches}) == 1


def test_entry_matching_many_ways_appears_once() -> None:
    index = CatalogIndex([_entry("acme", "Acme", "acme", "acme pro", "acmé")])
    matches = index.search("acme")
    assert [match.entry.key for match in matches] == ["acme"]
    assert matches[0].score == 100.0


def test_accented_catalog_names_match_plain_queries() -> None:
    index = CatalogIndex([_entry("ee", "Électricité Énergie Sàrl")])
    assert [match.entry.key for match in index.search("electricite energie sarl")] == ["ee"]
    assert index.search("electricite energie sarl")[0].score == 100.0


def test_search_is_deterministic() -> None:
    entries = [_entry(f"e{i}", f"Supplier {i % 7} Group", "supplier") for i in range(60)]
    first = CatalogIndex(entries).search("supplier", limit=60)
    second = CatalogIndex(list(reversed(entries))).search("supplier", limit=60)
    assert [m.entry.key for m in first] == [m.entry.key for m in second]


def test_empty_index() -> None:
    index = CatalogIndex([])
    assert len(index) == 0
    assert index.search("edf") == []
