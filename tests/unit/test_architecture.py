"""Dependencies point one way: core/ never imports a transport or the packages above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {
    "aiogram",
    "aiosmtpd",
    "imap_tools",
    "bot",
    "mail",
    "scheduler",
    "courier",
    "apscheduler",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


CORE_FILES = sorted((ROOT / "core").rglob("*.py"))


def test_core_exists() -> None:
    assert len(CORE_FILES) > 20


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_transport(path: Path) -> None:
    assert _imports(path) & FORBIDDEN_IN_CORE == set()


#: The bot renders and routes: every read or write of the database is a core service,
#: called with the session its entry point's transaction opened.
QUERIES = ("session.exec(", "session.get(", "session.scalar(", "select(")
BOT_FILES = sorted((ROOT / "bot").rglob("*.py"))


def test_bot_exists() -> None:
    assert len(BOT_FILES) > 10


@pytest.mark.parametrize("path", BOT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_bot_runs_no_queries(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if any(query in line for query in QUERIES)
    ]
    assert found == []
