"""Typed reading of one TOML table of a recipe, with errors that name the field.

`TableReader` remembers which keys it was asked for, so `finish()` can refuse the rest:
a misspelt optional key is an error, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from core.suppliers.recipes.model import Column, Probe

_EMPTY_DOC = LexborHTMLParser("<p></p>")


class RecipeError(ValueError):
    """A recipe that cannot be used; `field` is the dotted path of the faulty key."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(f"{source}: {field}: {problem}")
        self.source, self.field, self.problem = source, field, problem


class TableReader:
    """One TOML table being read; remembers which keys were used to refuse the others."""

    def __init__(self, data: Mapping[str, Any], path: str, source: str) -> None:
        self.data, self.path, self.source = data, path, source
        self._used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> RecipeError:
        return RecipeError(self.source, self.name(key), problem)

    def _get(self, key: str, kind: type, what: str) -> Any:
        self._used.add(key)
        value = self.data.get(key)
        # TOML booleans are ints to Python; no field here takes a boolean.
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            raise self.error(key, f"must be {what}, not {type(value).__name__}")
        return value

    def text(self, key: str) -> str:
        value = self.opt_text(key)
        if value is None:
            raise self.error(key, "missing (a string is required)")
        return value

    def opt_text(self, key: str) -> str | None:
        value: str | None = self._get(key, str, "a string")
        if value is not None and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def opt_integer(self, key: str, *, minimum: int = 0) -> int | None:
        value: int | None = self._get(key, int, "an integer")
        if value is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}")
        return value

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.opt_integer(key, minimum=minimum)
        return default if value is None else value

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value: list[Any] | None = self._get(key, list, "a list of strings")
        if value is None:
            return default
        if not value or not all(isinstance(item, str) and item for item in value):
            raise self.error(key, "must be a non-empty list of non-empty strings")
        return tuple(value)

    def opt_table(self, key: str) -> TableReader | None:
        value: dict[str, Any] | None = self._get(key, dict, "a table")
        return None if value is None else TableReader(value, self.name(key), self.source)

    def table(self, key: str) -> TableReader:
        table = self.opt_table(key)
        if table is None:
            raise self.error(key, "missing (a table is required)")
        return table

    def tables(self, key: str) -> list[TableReader]:
        value: list[Any] | None = self._get(key, list, "an array of tables")
        if value is None:
            return []
        if not all(isinstance(item, dict) for item in value):
            raise self.error(key, "must be an array of tables ([[...]])")
        return [
            TableReader(item, f"{self.name(key)}[{i}]", self.source) for i, item in enumerate(value)
        ]

    def selector(self, key: str) -> str:
        value = self.text(key)
        _check_selector(self, key, value)
        return value

    def opt_selector(self, key: str) -> str | None:
        value = self.opt_text(key)
        if value is not None:
            _check_selector(self, key, value)
        return value

    def probe(self, key: str) -> Probe:
        table = self.table(key)
        probe = Probe(selector=table.opt_selector("selector"), text=table.opt_text("text"))
        if probe.selector is None and probe.text is None:
            raise self.error(key, 'needs "selector" or "text"')
        table.finish()
        return probe

    def opt_probe(self, key: str) -> Probe | None:
        if self.data.get(key) is None:
            self._used.add(key)
            return None
        return self.probe(key)

    def column(self, key: str) -> Column:
        table = self.table(key)
        pattern = table.opt_text("pattern")
        if pattern is not None:
            try:
                if re.compile(pattern).groups > 1:
                    raise table.error("pattern", "must have at most one group")
            except re.error as err:
                raise table.error("pattern", f"not a valid regular expression ({err})") from err
        column = Column(table.selector("selector"), table.opt_text("attribute"), pattern)
        table.finish()
        return column

    def opt_column(self, key: str) -> Column | None:
        if self.data.get(key) is None:
            self._used.add(key)
            return None
        return self.column(key)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            raise self.error(unknown[0], "unknown key (misspelt?)")


def _check_selector(table: TableReader, key: str, selector: str) -> None:
    try:
        _EMPTY_DOC.css(selector)
    except Exception as err:  # selectolax raises its own error type for any parse failure
        raise table.error(key, f"not a valid CSS selector: {selector!r}") from err
