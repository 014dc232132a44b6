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


#: The one place a process builds its provider registry, and closes it: the composition
#: root. A registry built per chat action, role or command would bring new HTTP clients
#: and new call limiters each time, so a software's per-company limits (Xero: 60 calls a
#: minute, 5 at once) would be counted per object instead of per company.
COMPOSITION_ROOT = ROOT / "courier" / "runtime.py"
APP_FILES = sorted(
    path
    for package in ("core", "bot", "mail", "scheduler", "courier")
    for path in (ROOT / package).rglob("*.py")
)


def _registry_lifecycle(path: Path) -> list[str]:
    """Where `path` builds a ProviderRegistry or closes a registry named `providers`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id == "ProviderRegistry") or (
            isinstance(func, ast.Attribute) and func.attr == "ProviderRegistry"
        ):
            found.append(f"line {node.lineno}: ProviderRegistry(...)")
        elif isinstance(func, ast.Attribute) and func.attr == "aclose":
            owner = func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "providers":
                found.append(f"line {node.lineno}: providers.aclose()")
    return found


def test_the_composition_root_builds_and_closes_the_one_provider_registry() -> None:
    found = [line.split(": ", 1)[1] for line in _registry_lifecycle(COMPOSITION_ROOT)]
    assert sorted(found) == ["ProviderRegistry(...)", "providers.aclose()"]


def test_no_chat_action_role_or_command_builds_or_closes_a_provider_registry() -> None:
    """core/ and bot/ receive the registry (service "providers", `Deps.providers`, or
    an `Accounting`); the roles and commands use the runtime's (courier/runtime.py)."""
    found = {
        str(path.relative_to(ROOT)): lines
        for path in APP_FILES
        if path != COMPOSITION_ROOT and (lines := _registry_lifecycle(path))
    }
    assert found == {}
