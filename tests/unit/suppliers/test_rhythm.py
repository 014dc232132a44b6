"""A supplier's rhythm, learned from its invoices' dates, and what a quiet run means."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.suppliers.rhythm import Quiet, Rhythm, judge_quiet, learn_rhythm

DAY = timedelta(days=1)


def monthly(last: date, count: int) -> list[date]:
    return [last - 30 * n * DAY for n in range(count)]


def test_a_monthly_supplier_comes_every_thirty_days() -> None:
    rhythm = learn_rhythm(monthly(date(2026, 11, 15), 6))
    assert rhythm == Rhythm(every=30 * DAY, last=date(2026, 11, 15))


def test_calendar_months_give_their_median() -> None:
    days = [date(2026, month, 1) for month in range(1, 9)]  # gaps: one of 28, two of 30, four of 31
    rhythm = learn_rhythm(days)
    assert rhythm is not None
    assert rhythm.every == 31 * DAY


def test_too_few_invoice_days_teach_no_rhythm() -> None:
    assert learn_rhythm(monthly(date(2026, 11, 15), 3)) is None
    # Several bills of one day (two subscriptions) are one arrival, not a gap of 0 days.
    one_day = [date(2026, 11, 15)] * 4 + [date(2026, 10, 15)]
    assert learn_rhythm(one_day) is None


def test_bursts_never_make_the_interval_shorter_than_a_week() -> None:
    orders = [date(2026, 11, day) for day in (1, 2, 3, 4, 5)]
    rhythm = learn_rhythm(orders)
    assert rhythm is not None
    assert rhythm.every == 7 * DAY


def test_a_supplier_is_late_after_one_and_a_half_intervals() -> None:
    rhythm = Rhythm(every=30 * DAY, last=date(2026, 11, 15))
    assert not rhythm.is_overdue(date(2026, 11, 15) + 45 * DAY)
    assert rhythm.is_overdue(date(2026, 11, 15) + 46 * DAY)


RHYTHM = Rhythm(every=30 * DAY, last=date(2026, 11, 15))
WITHIN = date(2026, 12, 6)  # three weeks after the last bill
LATE = date(2027, 1, 15)  # two months after


@pytest.mark.parametrize(
    ("listed", "listed_before", "rhythm", "today", "quiet"),
    [
        (5, True, RHYTHM, WITHIN, Quiet.NOTHING_NEW),  # the usual week between bills
        (None, True, RHYTHM, WITHIN, Quiet.NOTHING_NEW),  # a connector that cannot count
        (5, True, None, LATE, Quiet.NOTHING_NEW),  # no rhythm known yet: no judgement
        (5, True, RHYTHM, LATE, Quiet.OVERDUE),
        (None, True, RHYTHM, LATE, Quiet.OVERDUE),
        (0, True, RHYTHM, WITHIN, Quiet.EMPTIED),  # the list emptied: the site changed
        (0, False, None, WITHIN, Quiet.NEVER_LISTED),  # never listed one: the wrong portal?
    ],
)
def test_a_quiet_run_is_an_alarm_only_when_it_means_something(
    listed: int | None, listed_before: bool, rhythm: Rhythm | None, today: date, quiet: Quiet
) -> None:
    verdict = judge_quiet(listed=listed, listed_before=listed_before, rhythm=rhythm, today=today)
    assert verdict == quiet
    assert verdict.alarming == (quiet != Quiet.NOTHING_NEW)
