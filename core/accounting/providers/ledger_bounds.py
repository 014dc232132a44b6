"""The bounds of a ledger kept under the ledger root: it reads nothing outside its folder.

Beancount follows `include` (with globs), `option "documents"` folders and `document`
directives, and imports any module a `plugin` line names. A ledger the chat linked could
use any of them to make the server open, list, test or run something outside the
workspace's folder, and Beancount's error would then quote it (a line of the vault key).
So before Beancount loads such a ledger, each file is parsed alone (nothing followed,
nothing run) and every place it names must resolve, links followed, inside the folder:
- included files are `.beancount` files in the folder;
- document folders and document files are in the folder;
- plugins are Beancount's own.
The refusal names the ledger only, never what the outside file holds or whether it exists.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from beancount.core import data
from beancount.parser import parser

from core.accounting.errors import LedgerOutsideFolder, LedgerPluginRefused

SUFFIX = ".beancount"
#: Beancount's own plugins (and its ops, which the loader runs anyway).
PLUGIN_PREFIXES = ("beancount.plugins.", "beancount.ops.")


def folder_of(path: Path, root: Path) -> Path | None:
    """The workspace folder under `root` that holds `path` (both resolved), if any."""
    if not path.is_relative_to(root):
        return None
    parts = path.relative_to(root).parts
    return root / parts[0] if len(parts) > 1 else root


def display_name(path: Path, folder: Path | None) -> str:
    """How a ledger is named to people: within its folder, or its full path (operator's)."""
    if folder is not None and path.is_relative_to(folder):
        return path.relative_to(folder).as_posix()
    return str(path)


def check_bounds(ledger: Path, folder: Path) -> None:
    """Raise LedgerOutsideFolder or LedgerPluginRefused unless everything `ledger` names
    stays in `folder` (a resolved path)."""
    name = display_name(ledger, folder)
    pending = [Path(os.path.normpath(ledger))]
    seen: set[Path] = set()
    while pending:
        # Beancount resolves relative names from the file as named, not from a link's target.
        current = pending.pop()
        resolved = current.resolve()
        if not resolved.is_relative_to(folder) or resolved.suffix != SUFFIX:
            raise LedgerOutsideFolder(name=name)
        if resolved in seen or not resolved.is_file():
            continue  # a missing file inside the folder is Beancount's to report
        seen.add(resolved)
        entries, _, options = parser.parse_file(str(resolved))
        _check_options(options, current.parent, folder, name)
        for entry in entries:
            if isinstance(entry, data.Document) and not _inside(
                current.parent, str(entry.filename), folder
            ):
                raise LedgerOutsideFolder(name=name)
        for pattern in options.get("include") or []:
            full = os.path.normpath(os.path.join(current.parent, pattern))
            if not _inside(current.parent, full, folder):
                raise LedgerOutsideFolder(name=name)
            pending += [Path(os.path.normpath(m)) for m in glob.glob(full, recursive=True)]


def _check_options(options: dict[str, Any], base: Path, folder: Path, name: str) -> None:
    for plugin, _ in options.get("plugin") or []:
        if not str(plugin).startswith(PLUGIN_PREFIXES):
            raise LedgerPluginRefused(name=name, plugin=str(plugin))
    for directory in options.get("documents") or []:
        if not _inside(base, str(directory), folder):
            raise LedgerOutsideFolder(name=name)


def _inside(base: Path, named: str, folder: Path) -> bool:
    """Whether `named` (relative to `base`), links followed, stays in `folder`. A glob's
    fixed part is what is checked: its matches are checked one by one as they are read."""
    fixed = named.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    target = Path(os.path.normpath(os.path.join(base, fixed)))
    return target.resolve().is_relative_to(folder)
