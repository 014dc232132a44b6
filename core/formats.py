"""Amounts, dates, times and plural categories as a person reads them: their language's
conventions (Babel's copy of the CLDR data) and their workspace's time zone.

No transport here: the bot and the CLI both format with it. Instants are stored in UTC
(core/models/base.py) and shown in the workspace's zone; a date is a calendar day and is
shown as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time
from babel.numbers import format_currency, format_decimal

DEFAULT_LOCALE = "en"
#: A workspace's own default (core/models/workspace.py), for a person seen outside one.
DEFAULT_TIMEZONE = "Europe/Paris"
#: CLDR's lengths: short 01/04/2026, medium 1 avr. 2026, long 1 avril 2026.
Style = Literal["short", "medium", "long", "full"]
#: Every plural category CLDR knows; a language uses `other` and some of the rest.
PLURAL_CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})


@cache
def locale_of(tag: str | None) -> Locale:
    """Babel's locale for "fr", "fr-CA" or "fr_CA"; English for an unknown or empty tag,
    so that a stray Telegram language code never fails a message."""
    try:
        return Locale.parse((tag or DEFAULT_LOCALE).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


@cache
def zone_of(name: str | None) -> ZoneInfo:
    """The IANA zone by its name. A name the system does not know reads as UTC: a bad
    workspace setting shows times in UTC rather than losing the message."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_local(value_utc: datetime, *, timezone: str | None) -> datetime:
    """An instant in the zone's wall-clock time; a naive value is taken as UTC, as the
    database stores it."""
    aware = value_utc if value_utc.tzinfo is not None else value_utc.replace(tzinfo=UTC)
    return aware.astimezone(zone_of(timezone))


def plural_category(count: int | Decimal, *, locale: str | None) -> str:
    """CLDR's category for a count: French says "0 document" and "1 document" (one), "2
    documents" (other), "1 000 000 de documents" (many); English "1 document" (one)."""
    return str(locale_of(locale).plural_form(count))


def plural_categories(*, locale: str | None) -> frozenset[str]:
    """The categories a language picks from, `other` included."""
    return frozenset(locale_of(locale).plural_form.tags) | {"other"}


def format_amount(value: Decimal | int, currency: str | None, *, locale: str | None) -> str:
    """125 EUR: "125,00 €" in French (a no-break space before the sign), "€125.00" in
    English. Without a currency code, the number alone with two decimals."""
    code = (currency or "").strip().upper()
    if len(code) == 3 and code.isalpha():
        return str(format_currency(value, code, locale=locale_of(locale)))
    # The pattern's ',' and '.' are placeholders: Babel puts the locale's own signs.
    return str(format_decimal(value, format="#,##0.00", locale=locale_of(locale)))


def format_date(value: date, *, locale: str | None, style: Style = "medium") -> str:
    """A calendar day: "1 avr. 2026" (fr), "Apr 1, 2026" (en)."""
    return str(babel_date(value, style, locale=locale_of(locale)))


def format_datetime(
    value_utc: datetime, *, locale: str | None, timezone: str | None, style: Style = "medium"
) -> str:
    """An instant in the workspace's zone: "1 avr. 2026, 00:30" (fr), "Apr 1, 2026,
    12:30 AM" (en). The time is always short: seconds are noise in a chat."""
    local = to_local(value_utc, timezone=timezone)
    babel_locale = locale_of(locale)
    day = str(babel_date(local.date(), style, locale=babel_locale))
    clock = str(babel_time(local, "short", locale=babel_locale))
    # CLDR glues them with its own pattern ("{1}, {0}", "{1} 'à' {0}"); quotes mark literals.
    pattern = str(babel_locale.datetime_formats[style]).replace("'", "")
    return pattern.replace("{0}", clock).replace("{1}", day)
