"""Every text exists in every language, with the same placeholders, and every error core
can raise has the bot's own words."""

from __future__ import annotations

import pytest

from bot.i18n import Texts, catalog, languages, pick_language, placeholders
from core.errors import CourierError


def _all_errors(cls: type[CourierError] = CourierError) -> list[type[CourierError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_errors(sub))
    return found


def test_the_bot_speaks_french_and_english() -> None:
    assert languages() == ("en", "fr")


@pytest.mark.parametrize("language", ["fr"])
def test_every_key_exists_in_both_languages(language: str) -> None:
    english, other = catalog("en"), catalog(language)
    assert len(english) > 100
    assert sorted(english.keys() - other.keys()) == []
    assert sorted(other.keys() - english.keys()) == []


def test_placeholders_are_the_same_in_both_languages() -> None:
    english, french = catalog("en"), catalog("fr")
    differ = {
        key: (placeholders(english[key]), placeholders(french[key]))
        for key in english
        if key in french and placeholders(english[key]) != placeholders(french[key])
    }
    assert differ == {}


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
