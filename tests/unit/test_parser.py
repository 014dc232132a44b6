"""The command tree names its handlers as text, so these checks stand in for the imports
it no longer makes: every leaf reaches a coroutine, and every copied choice its enum."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Iterator

from core.models import InboundState, ListKind
from courier.parser import INBOUND_STATES, LIST_KINDS, Handler, build_parser


def _leaves(
    parser: argparse.ArgumentParser, path: str = "courier"
) -> Iterator[tuple[str, Handler]]:
    handler = parser.get_default("handler")
    if handler is not None:
        yield path, handler
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _leaves(child, f"{path} {name}")


def test_every_command_runs_a_coroutine_that_exists() -> None:
    leaves = dict(_leaves(build_parser()))
    assert {
        "courier run",
        "courier doctor",
        "courier integration connect",
        "courier digest on",
    } <= (leaves.keys())
    for path, handler in leaves.items():
        assert inspect.iscoroutinefunction(handler.load()), path


def test_the_copied_choices_are_the_enums_values() -> None:
    assert set(INBOUND_STATES) == {s.value for s in InboundState}
    assert set(LIST_KINDS) == {k.value for k in ListKind}
