"""The cyclic garbage collector's settings for a long-running Courier process.

A role's process keeps about 150,000 objects from start-up to exit: the modules,
SQLAlchemy's mappers and compiled statements, pydantic's validators, the catalog. Python's
collector walks all of them at every full collection: about 100 ms each on these machines,
13 of them in 2,000 supplier fetches, and a young collection every 700 new containers
besides, while a run or an update makes thousands that are freed by reference count.

`settle_heap`, once the process is built and before it serves:
- freezes what exists (`gc.freeze`: a permanent generation the collector ignores), so a
  full collection walks only what the process made since; a cycle among the frozen
  objects that is dropped later is never freed, and a built process drops next to none;
- collects the young generation every `YOUNG_THRESHOLD` new containers instead of 700:
  fewer collections, and fewer of a run's short-lived objects still alive, and promoted
  to an older generation, when one comes.
The older generations keep their ratios, so a cycle that outlives a run is still found.

Measured by `python -m bench.fetch_connections` (`gc_ms_per_run`, the collector timed by
its own callbacks): about 0.3 ms of CPU a fetch run instead of 1.0 (README, "Scaling
out").
"""

from __future__ import annotations

import gc

#: New containers between young collections (CPython's default is 700).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Freeze the start-up heap and space out young collections; call once, when built."""
    gc.collect()  # what start-up left as garbage goes now, not frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
