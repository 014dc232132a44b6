"""Printing for people and for scripts: aligned tables and `key: value` lines, or JSON.

Every value goes through `human` (people) or `plain` (JSON), so neither shows a Python
repr. A command prints only what it passes in, and none passes a secret; `plain` refuses
one outright rather than trust that.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import SecretBytes, SecretStr


def plain(value: Any) -> Any:
    """`value` as a JSON type (json.dump calls this for the types it does not know)."""
    if isinstance(value, SecretStr | SecretBytes):
        raise TypeError("a secret is never printed")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not printable as JSON")


def human(value: Any) -> str:
    """`value` as a person reads it on one line: lists joined, mappings as `name value`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        # Courier keeps every time in UTC; SQLite gives them back without their zone.
        offset = value.utcoffset()
        if offset is None or not offset:
            return f"{value:%Y-%m-%d %H:%M} UTC"
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{name} {human(item)}".strip() for name, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        joint = "; " if any(isinstance(item, Mapping) for item in value) else ", "
        return joint.join(human(item) for item in value)
    if isinstance(value, SecretStr | SecretBytes):
        raise TypeError("a secret is never printed")
    return " ".join(str(value).split())  # a table cell is one line


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, default=plain, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def emit_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, empty: str) -> None:
    """One row a line under a header of the column names; `empty` alone when no row."""
    if not rows:
        print(empty)
        return
    cells = [[human(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def emit_rows(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool, empty: str
) -> None:
    """A list: every key of every row as JSON, or the chosen columns as a table."""
    if as_json:
        emit_json(list(rows))
    else:
        emit_table(rows, columns, empty=empty)


def emit_record(pairs: Sequence[tuple[str, Any]]) -> None:
    """One thing as aligned `name: value` lines."""
    if not pairs:
        return
    width = max(len(name) for name, _ in pairs) + 1
    for name, value in pairs:
        print(f"{name + ':':<{width}} {human(value)}".rstrip())


def emit_result(data: Mapping[str, Any], *, as_json: bool, lines: Sequence[str]) -> None:
    """What a command did: `data` as JSON, or its sentences for a person."""
    if as_json:
        emit_json(data)
    else:
        for line in lines:
            print(line)


@cache
def invocation() -> str:
    """How to run this same `courier` again, as the person can type it: `courier` when the
    PATH finds it, else its path (`make run` leaves it in .venv/bin, rarely on the PATH)."""
    started = Path(sys.argv[0])
    if started.name == "__main__.py":  # python -m courier
        beside = Path(sys.executable).parent / "courier"
        script = beside if beside.is_file() else None
    else:
        script = started if started.is_file() else None
    if script is None:
        return f"{_short(Path(sys.executable))} -m courier"
    found = shutil.which("courier")
    if found is not None and os.path.samefile(found, script):
        return "courier"
    return _short(script)


def _short(path: Path) -> str:
    """The path as typed from here: relative inside the working folder, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        typed = str(absolute.relative_to(Path.cwd()))
    except ValueError:
        typed = str(absolute)
    # A bare name would be looked up on the PATH, which is what it is not on.
    return shlex.quote(typed if "/" in typed else f"./{typed}")


def with_invocation(text: str) -> str:
    """A hint such as "run `courier db upgrade`", with the command as it can be typed here."""
    name = invocation()
    return text if name == "courier" else text.replace("`courier ", f"`{name} ")
