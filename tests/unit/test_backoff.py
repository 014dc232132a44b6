"""The one retry strategy (core/backoff.py): each queue keeps the waits it had."""

from __future__ import annotations

from datetime import timedelta

from core.backoff import (
    FETCH,
    IMAP_POLL,
    INBOUND,
    OUTBOX,
    PUBLISHING,
    SUPPLIER_HTTP,
    RetryStrategy,
)


def test_the_outbox_waits_five_seconds_doubling_up_to_ten_minutes() -> None:
    assert [OUTBOX.delay(n) for n in (1, 2, 3, 7, 8, 50)] == [5, 10, 20, 320, 600, 600]


def test_a_mail_that_fails_is_tried_five_times_then_left_failed() -> None:
    assert [INBOUND.delay(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert [INBOUND.gives_up(n) for n in (4, 5)] == [False, True]
    assert not OUTBOX.gives_up(10_000)  # the outbox never gives up by count


def test_a_fetch_waits_at_least_what_the_site_asked() -> None:
    assert FETCH.wait(1) == timedelta(minutes=5)
    assert FETCH.wait(9) == timedelta(hours=12)
    assert FETCH.wait(1, retry_after=3600) == timedelta(hours=1)  # longer: the site wins
    assert FETCH.wait(3, retry_after=10) == timedelta(minutes=20)  # shorter: ours


def test_a_publication_waits_what_the_software_asked_one_second_at_least() -> None:
    assert [PUBLISHING.delay(n) for n in (1, 2, 10)] == [60, 120, 6 * 3600]
    assert PUBLISHING.delay(5, retry_after=30) == 30
    assert PUBLISHING.delay(5, retry_after=0.2) == 1


def test_a_mailbox_poll_backs_off_up_to_six_hours_even_after_years_of_failures() -> None:
    assert IMAP_POLL.delay(1) == 60
    assert IMAP_POLL.delay(10**6) == 6 * 3600


def test_jitter_adds_up_to_its_share_and_never_to_a_retry_after() -> None:
    waits = {SUPPLIER_HTTP.delay(2) for _ in range(200)}
    assert min(waits) >= 1.0
    assert max(waits) <= 1.25
    assert len(waits) > 1
    assert SUPPLIER_HTTP.delay(2, retry_after=3) == 3


def test_a_strategy_is_a_value() -> None:
    assert RetryStrategy(base=1.0) == RetryStrategy(base=1.0, factor=2.0)
    assert hash(OUTBOX) == hash(RetryStrategy(base=5.0, cap=600.0))
