"""The bot's wording: one TOML file per language in bot/locales, a table per subject.

A text is named `subject.key` and formatted with named placeholders only. The language
comes from the workspace's locale, then the person's Telegram `language_code`, then
English.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import CourierError

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{key}.")
        else:
            flat[key] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """Every text of one language, by its dotted key."""
    with (LOCALES_DIR / f"{language}.toml").open("rb") as handle:
        return _flatten(tomllib.load(handle))


def languages() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in LOCALES_DIR.glob("*.toml")))


def placeholders(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def pick_language(*, workspace_locale: str | None, language_code: str | None) -> str:
    known = languages()
    for candidate in (workspace_locale, language_code):
        if candidate:
            base = candidate.split("-")[0].split("_")[0].lower()
            if base in known:
                return base
    return DEFAULT_LANGUAGE


class Texts:
    """The texts of one language, called as `texts("connect.ask_login", supplier=...)`."""

    __slots__ = ("_texts", "language")

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = language
        self._texts = catalog(language)

    def __call__(self, key: str, **params: object) -> str:
        template = self._texts.get(key)
        if template is None:
            # A missing key is a bug the texts test catches; never show a blank message.
            template = catalog(DEFAULT_LANGUAGE).get(key, key)
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        return key in self._texts

    def error(self, error: CourierError) -> str:
        key = f"errors.{error.key}"
        if key not in self._texts:
            key = "errors.error"
        try:
            return self._texts[key].format(**error.params)
        except (KeyError, IndexError):
            return self._texts["errors.error"]


def texts_for(*, workspace_locale: str | None, language_code: str | None) -> Texts:
    return Texts(pick_language(workspace_locale=workspace_locale, language_code=language_code))
