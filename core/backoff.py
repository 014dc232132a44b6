"""One retry strategy for every queue and loop that tries again, and the table of them.

A `RetryStrategy` is a value: the wait before the first retry, its growth, its cap, a
random share added so that failures met together part, and how many tries at most.
`delay(attempt, retry_after)` is the wait after the `attempt`-th failed try (1 for the
first). A server's `Retry-After` (read by core/retry_after.py) is honoured: by default
it replaces the strategy's own wait (the server said when); a queue whose run is heavy
takes it as a floor instead.

Each queue keeps the numbers it had before they met here; the table below is the one
place to read or change them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

#: Past this many doublings every strategy here is at its cap; it also keeps the power
#: finite for a row that failed a thousand times.
_MOST_DOUBLINGS = 64


@dataclass(frozen=True, slots=True)
class RetryStrategy:
    #: Seconds before the first retry.
    base: float
    factor: float = 2.0
    #: The longest wait the strategy itself asks for (a Retry-After may ask more).
    cap: float = float("inf")
    #: Up to this share of the wait is added at random (not to a Retry-After).
    jitter: float = 0.0
    #: Tries in all, the first one included; None for a queue that never gives up.
    max_attempts: int | None = None
    #: Never wait less than this, whatever a Retry-After says.
    floor: float = 0.0
    #: A Retry-After is the least wait (True), or the wait itself (False).
    retry_after_is_floor: bool = False

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `attempt`-th failed try."""
        doublings = min(max(attempt - 1, 0), _MOST_DOUBLINGS)
        own = min(self.cap, self.base * self.factor**doublings)
        if self.jitter and retry_after is None:
            own += random.uniform(0, own * self.jitter)
        if retry_after is None:
            wait = own
        elif self.retry_after_is_floor:
            wait = max(own, retry_after)
        else:
            wait = retry_after
        return max(self.floor, wait)

    def wait(self, attempt: int, retry_after: float | None = None) -> timedelta:
        """`delay` as a timedelta, for a row's next try."""
        return timedelta(seconds=self.delay(attempt, retry_after))

    def gives_up(self, attempt: int) -> bool:
        """Whether the `attempt`-th failed try was the last one allowed."""
        return self.max_attempts is not None and attempt >= self.max_attempts


_MINUTE = 60.0
_HOUR = 3600.0

#: The outbox (bot/notifier.py): 5 s, 10 s, 20 s… up to 10 minutes.
OUTBOX = RetryStrategy(base=5.0, cap=10 * _MINUTE)
#: A supplier's fetch run (core/services/fetch.py): 5 minutes doubling up to 12 hours, and
#: never sooner than the site's Retry-After: a run is a whole login.
FETCH = RetryStrategy(base=5 * _MINUTE, cap=12 * _HOUR, retry_after_is_floor=True)
#: A publication to the accounting software (core/services/publishing.py): 1 minute
#: doubling up to 6 hours; after a 429, the software's Retry-After, one second at least.
PUBLISHING = RetryStrategy(base=_MINUTE, cap=6 * _HOUR, floor=1.0)
#: A mailbox whose poll failed (mail/imap/schedule.py): 1 minute doubling up to 6 hours.
IMAP_POLL = RetryStrategy(base=_MINUTE, cap=6 * _HOUR)
#: A received mail whose processing failed (core/services/inbound.py): 1 minute, 2, 4, 8,
#: then it is FAILED and kept for a retry by hand.
INBOUND = RetryStrategy(base=_MINUTE, max_attempts=5)
#: One request to a supplier's site inside a run (core/suppliers/http.py): half a second
#: doubling, a quarter more at random; the tries are the run's `HttpLimits`.
SUPPLIER_HTTP = RetryStrategy(base=0.5, jitter=0.25)
