"""A served process's collector: what start-up built is never walked again, what start-up
threw away is freed first, and what the process makes afterwards is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from courier.heap import YOUNG_THRESHOLD, settle_heap


class Node:
    """A container the collector tracks, which can hold itself in a cycle."""

    def __init__(self) -> None:
        self.me: Node | None = None


def cycle() -> Node:
    node = Node()
    node.me = node  # only the collector can free it
    return node


def tracked(obj: object) -> bool:
    """Whether a collection would walk `obj`: frozen objects are out of every generation."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_what_start_up_built_is_left_out_of_every_later_collection() -> None:
    catalog = cycle()  # lives as long as the process
    assert tracked(catalog)

    settle_heap()

    assert not tracked(catalog)
    assert gc.get_freeze_count() > 0


def test_what_start_up_threw_away_is_freed_not_frozen_for_good() -> None:
    leftover = cycle()
    gone = weakref.ref(leftover)
    del leftover

    settle_heap()

    assert gone() is None


def test_garbage_made_while_serving_is_still_collected() -> None:
    settle_heap()
    run = cycle()  # a fetch run's objects, in a cycle, then done with
    assert tracked(run)
    gone = weakref.ref(run)
    del run

    gc.collect()

    assert gone() is None


def test_young_collections_come_less_often_and_the_older_keep_their_ratios() -> None:
    _, middle, old = gc.get_threshold()

    settle_heap()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert YOUNG_THRESHOLD > 700  # CPython's default
