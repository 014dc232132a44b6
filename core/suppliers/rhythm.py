"""How often a supplier's invoices come, and what a run that brought nothing new means.

A run looks back only to the last success minus a few days, so a monthly supplier
fetched weekly brings nothing new three weeks out of four: that is its rhythm, not a
fault. "Found nothing" is said in two cases only:

- the site lists no invoice at all, where it used to list some (`Quiet.EMPTIED`): the
  account moved to another portal, or the site shows another account;
- no new invoice for longer than `OVERDUE_FACTOR` times the supplier's own interval
  (`Quiet.OVERDUE`).

The interval is the median gap between the issue dates of the invoices the connection
brought, once there are `MIN_HISTORY` distinct dates (so three gaps; fewer say too
little to call a silence abnormal). Issue dates, not arrival dates: the first run brings
the whole history at once, and a supplier's dates do not depend on when Courier looked.
Invoices of one day count once (several subscriptions billed together), and the interval
is never taken under `MIN_INTERVAL`: per-order suppliers bill in bursts, and a weekly run
cannot judge a silence shorter than a week.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from itertools import pairwise
from statistics import median

#: Silence longer than this many intervals is an alarm.
OVERDUE_FACTOR = 1.5
#: Distinct issue dates needed before a silence is judged.
MIN_HISTORY = 4
MIN_INTERVAL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Rhythm:
    """A supplier's usual interval between invoices, and its newest invoice's date."""

    every: timedelta
    last: date

    def is_overdue(self, today: date, factor: float = OVERDUE_FACTOR) -> bool:
        """No new invoice for longer than `factor` intervals."""
        return today - self.last > self.every * factor


def learn_rhythm(
    issued: Iterable[date],
    *,
    min_history: int = MIN_HISTORY,
    min_interval: timedelta = MIN_INTERVAL,
) -> Rhythm | None:
    """The rhythm of these issue dates; None with fewer than `min_history` distinct days."""
    days = sorted(set(issued))
    if len(days) < max(min_history, 2):
        return None
    gaps = [(later - earlier).days for earlier, later in pairwise(days)]
    every = max(timedelta(days=round(median(gaps))), min_interval)
    return Rhythm(every=every, last=days[-1])


class Quiet(StrEnum):
    """What a run that logged in fine and brought nothing new means."""

    #: Nothing new, within the supplier's rhythm (or none known yet): a plain success.
    NOTHING_NEW = "nothing_new"
    #: The site lists some invoices, but none new for longer than the rhythm allows.
    OVERDUE = "overdue"
    #: The site lists no invoice at all, where it used to list some.
    EMPTIED = "emptied"
    #: The site lists no invoice and never did: most often the wrong portal was chosen.
    NEVER_LISTED = "never_listed"

    @property
    def alarming(self) -> bool:
        return self is not Quiet.NOTHING_NEW


def judge_quiet(
    *,
    listed: int | None,
    listed_before: bool,
    rhythm: Rhythm | None,
    today: date,
    factor: float = OVERDUE_FACTOR,
) -> Quiet:
    """`listed` is what the site's list showed this time (None: the connector cannot
    tell); `listed_before`, whether an earlier run saw any invoice there."""
    if listed == 0:
        return Quiet.EMPTIED if listed_before else Quiet.NEVER_LISTED
    if rhythm is not None and rhythm.is_overdue(today, factor):
        return Quiet.OVERDUE
    return Quiet.NOTHING_NEW
