"""Every text exists in every language, with the same placeholders, and every error core
can raise has the bot's own words. A text that counts has the plural forms its language
needs (CLDR, through Babel), and every call of it passes the count."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import core
from bot.i18n import (
    Texts,
    catalog,
    forms,
    is_plural,
    languages,
    pick_language,
    placeholders,
    texts_for,
)
from core.errors import CourierError
from core.formats import plural_categories

BOT = Path(__file__).resolve().parents[3] / "bot"


WOOB_BRIDGE = "core.suppliers.woob.bridge"


def _all_errors(cls: type[CourierError] = CourierError) -> list[type[CourierError]]:
    """Every error core defines, whatever this worker imported before: all of core is
    imported first, and errors of other packages (the CLI's start-up checks, which the
    chat never meets) are left out."""
    for module in pkgutil.walk_packages(core.__path__, "core."):
        if module.name == WOOB_BRIDGE:
            continue  # a script for woob's own interpreter: Courier's has no woob
        importlib.import_module(module.name)
    return [error for error in _subclasses(cls) if error.__module__.startswith("core.")]


def _subclasses(cls: type[CourierError]) -> list[type[CourierError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def test_the_bot_speaks_french_and_english() -> None:
    assert languages() == ("en", "fr")


@pytest.mark.parametrize("language", ["fr"])
def test_every_key_exists_in_both_languages(language: str) -> None:
    english, other = catalog("en"), catalog(language)
    assert len(english) > 100
    assert sorted(english.keys() - other.keys()) == []
    assert sorted(other.keys() - english.keys()) == []


def test_placeholders_are_the_same_in_both_languages_and_every_plural_form() -> None:
    english = catalog("en")
    differ = {
        (key, language, category): sorted(placeholders(form) ^ placeholders(forms(entry)["other"]))
        for key, entry in english.items()
        for language in languages()
        for category, form in forms(catalog(language).get(key, "")).items()
        if placeholders(form) != placeholders(forms(entry)["other"])
    }
    assert differ == {}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_plural_text_has_the_forms_its_language_picks(language: str) -> None:
    needed = plural_categories(locale=language)
    wrong = {
        key: {"missing": sorted(needed - set(entry)), "never picked": sorted(set(entry) - needed)}
        for key, entry in catalog(language).items()
        if is_plural(entry) and set(entry) != needed
    }
    assert wrong == {}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_no_text_writes_a_plural_in_brackets(language: str) -> None:
    bracketed = re.compile(r"\w\((?:s|x|es)\)")
    found = {
        key: form
        for key, entry in catalog(language).items()
        for form in forms(entry).values()
        if bracketed.search(form)
    }
    assert found == {}


def _plural_keys() -> frozenset[str]:
    return frozenset(
        key
        for language in languages()
        for key, entry in catalog(language).items()
        if is_plural(entry)
    )


def test_every_call_of_a_plural_text_passes_its_count() -> None:
    plural, forgotten = _plural_keys(), []
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and first.value in plural):
                continue
            named = {keyword.arg for keyword in node.keywords}
            if "count" not in named and None not in named:  # None: a **params
                forgotten.append(f"{path.relative_to(BOT.parent)}:{node.lineno} {first.value}")
    assert forgotten == []


def _form(language: str, key: str, category: str) -> str:
    entry = catalog(language)[key]
    assert is_plural(entry)
    return forms(entry)[category]


def test_the_count_picks_the_form_by_the_language_rules() -> None:
    french, english = Texts("fr"), Texts("en")
    # French counts 0 and 1 as one, English only 1.
    for count, category in ((0, "one"), (1, "one"), (2, "other"), (1_000_000, "many")):
        expected = _form("fr", "mail.kept", category).format(count=count)
        assert french("mail.kept", count=count) == expected
    for count, category in ((0, "other"), (1, "one"), (2, "other")):
        expected = _form("en", "mail.kept", category).format(count=count)
        assert english("mail.kept", count=count) == expected
    assert french("mail.kept", count=Decimal(1)) == _form("fr", "mail.kept", "one").format(count=1)


def test_a_plural_text_without_its_count_says_its_other_form() -> None:
    assert Texts("fr")("notify.keep_button") == _form("fr", "notify.keep_button", "other")


def test_twelve_new_documents_are_written_out_in_french() -> None:
    text = Texts("fr")("notify.fetched", supplier="EDF", count=12)
    assert "12 nouveaux documents" in text
    assert "(" not in text


def test_french_asks_for_la_date_not_le_date() -> None:
    texts = Texts("fr")
    for field in ("issue_date", "due_date"):
        prompt = texts("review.type_now", field=texts(f"review.field_{field}"))
        assert prompt.startswith("Tapez la date ")
    assert texts("review.type_now", field=texts("review.field_total_incl_tax")) == (
        "Tapez le total TTC :"
    )


def test_amounts_and_dates_are_written_in_the_person_language() -> None:
    french, english = Texts("fr"), Texts("en")
    assert french.amount(Decimal("125"), "EUR") == "125,00\N{NO-BREAK SPACE}€"
    assert english.amount(Decimal("125"), "EUR") == "€125.00"
    assert french.day(date(2026, 4, 1)) == "1 avr. 2026"
    assert english.day(date(2026, 4, 1)) == "Apr 1, 2026"


def test_instants_are_shown_on_the_workspace_clock() -> None:
    late_march = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # already April 1st in Paris
    paris = texts_for(workspace_locale="fr", language_code="en", timezone="Europe/Paris")
    assert paris.moment(late_march) == "1 avr. 2026, 00:30"
    assert paris.day(late_march) == "1 avr. 2026"
    reunion = texts_for(workspace_locale="fr", language_code=None, timezone="Indian/Reunion")
    assert reunion.moment(late_march) == "1 avr. 2026, 02:30"
    assert texts_for(workspace_locale=None, language_code="fr").timezone == "Europe/Paris"


def test_every_error_core_raises_has_bot_words() -> None:
    keys = {f"errors.{cls.key}" for cls in _all_errors()}
    assert keys - catalog("en").keys() == set()


def test_the_workspace_locale_wins_over_the_person_language() -> None:
    assert pick_language(workspace_locale="fr", language_code="en-GB") == "fr"
    assert pick_language(workspace_locale=None, language_code="fr-CA") == "fr"
    assert pick_language(workspace_locale=None, language_code="de") == "en"
    assert pick_language(workspace_locale=None, language_code=None) == "en"


def test_an_error_is_told_with_its_params() -> None:
    from core.errors import InviteExpired

    text = Texts("fr").error(InviteExpired(expired_at="2026-11-01T10:00"))
    assert "2026-11-01T10:00" in text
    assert text.startswith("Ce code d’invitation a expiré")
