"""Explicit state machines: every allowed move is listed, every other one is refused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from core.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class StateMachine(Generic[S]):
    name: str
    moves: Mapping[S, frozenset[S]]
    #: States reachable from anywhere, such as "disabled".
    from_any: frozenset[S] = frozenset()

    def allows(self, current: S, target: S) -> bool:
        return target in self.from_any or target in self.moves.get(current, frozenset())

    def check(self, current: S, target: S) -> None:
        if not self.allows(current, target):
            raise IllegalTransition(machine=self.name, current=str(current), target=str(target))
