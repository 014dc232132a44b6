"""The bot's wording: one TOML file per language in bot/locales, a table per subject.

A text is named `subject.key` and formatted with named placeholders only. A text that
says a number of things is a table of CLDR plural categories instead of one string,
`kept = { one = "… {count} image …", other = "… {count} images …" }`: the form is picked
by the `count` parameter with Babel's rules for the language (French says "0 image" and
"1 image", English "0 images"). The language comes from the workspace's locale, then the
person's Telegram `language_code`, then English; amounts, dates and times are written in
that language's conventions and in the workspace's time zone (core/formats.py).
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.errors import CourierError
from core.formats import (
    DEFAULT_TIMEZONE,
    PLURAL_CATEGORIES,
    Style,
    format_amount,
    format_date,
    format_datetime,
    plural_category,
    to_local,
)

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"

#: A text: one string, or its plural forms by CLDR category (`other` always among them).
Entry = str | Mapping[str, str]


def is_plural(value: object) -> bool:
    """A table of plural forms, as opposed to a subject's sub-table such as [review.ask]."""
    return (
        isinstance(value, Mapping)
        and "other" in value
        and set(value) <= PLURAL_CATEGORIES
        and all(isinstance(form, str) for form in value.values())
    )


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Entry]:
    flat: dict[str, Entry] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if is_plural(value):
            flat[key] = MappingProxyType(dict(value))
        elif isinstance(value, Mapping):
            flat |= _flatten(value, f"{key}.")
        else:
            flat[key] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, Entry]:
    """Every text of one language, by its dotted key."""
    with (LOCALES_DIR / f"{language}.toml").open("rb") as handle:
        return _flatten(tomllib.load(handle))


@cache
def languages() -> tuple[str, ...]:
    """The languages shipped, read once: each update picks one, and a folder listing per
    update cost the bot as much as reading its member."""
    return tuple(sorted(path.stem for path in LOCALES_DIR.glob("*.toml")))


def placeholders(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def forms(entry: Entry) -> Mapping[str, str]:
    """A text's forms by plural category; a plain text is its own `other` form."""
    return {"other": entry} if isinstance(entry, str) else entry


def pick_form(entry: Entry, *, count: object, language: str) -> str:
    """The form for `count`, by the language's CLDR rules. Without a number, `other`: a
    caller that forgot the count still says something sensible (tests/unit/bot/test_i18n.py
    checks that every call of a plural text passes one)."""
    if isinstance(entry, str):
        return entry
    if isinstance(count, int | Decimal) and not isinstance(count, bool):
        return entry.get(plural_category(count, locale=language), entry["other"])
    return entry["other"]


def pick_language(*, workspace_locale: str | None, language_code: str | None) -> str:
    known = languages()
    for candidate in (workspace_locale, language_code):
        if candidate:
            base = candidate.split("-")[0].split("_")[0].lower()
            if base in known:
                return base
    return DEFAULT_LANGUAGE


class Texts:
    """The texts of one language, called as `texts("connect.ask_login", supplier=...)`;
    a plural text takes its number as `count`: `texts("mail.kept", count=3)`.

    It also writes amounts, days and instants as the person reads them (`amount`, `day`,
    `moment`), in its language and the workspace's time zone."""

    __slots__ = ("_texts", "language", "timezone")

    def __init__(self, language: str = DEFAULT_LANGUAGE, *, timezone: str = DEFAULT_TIMEZONE):
        self.language = language
        self.timezone = timezone
        self._texts = catalog(language)

    def __call__(self, key: str, /, **params: object) -> str:
        entry, language = self._texts.get(key), self.language
        if entry is None:
            # A missing key is a bug the texts test catches; never show a blank message.
            entry, language = catalog(DEFAULT_LANGUAGE).get(key, key), DEFAULT_LANGUAGE
        template = pick_form(entry, count=params.get("count"), language=language)
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        return key in self._texts

    def error(self, error: CourierError) -> str:
        key = f"errors.{error.key}"
        if key not in self._texts:
            key = "errors.error"
        template = pick_form(
            self._texts[key], count=error.params.get("count"), language=self.language
        )
        try:
            return template.format(**error.params)
        except (KeyError, IndexError):
            return pick_form(self._texts["errors.error"], count=None, language=self.language)

    def amount(self, value: Decimal | int, currency: str | None) -> str:
        """125 EUR as "125,00 €" in French, "€125.00" in English."""
        return format_amount(value, currency, locale=self.language)

    def day(self, value: date | datetime, *, style: Style = "medium") -> str:
        """A calendar day; an instant is first taken to the workspace's zone, where it may
        be the next or the previous day."""
        if isinstance(value, datetime):
            value = to_local(value, timezone=self.timezone).date()
        return format_date(value, locale=self.language, style=style)

    def moment(self, value_utc: datetime, *, style: Style = "medium") -> str:
        """An instant, as the workspace's clock shows it."""
        return format_datetime(value_utc, locale=self.language, timezone=self.timezone, style=style)


def texts_for(
    *, workspace_locale: str | None, language_code: str | None, timezone: str | None = None
) -> Texts:
    language = pick_language(workspace_locale=workspace_locale, language_code=language_code)
    return Texts(language, timezone=timezone or DEFAULT_TIMEZONE)
