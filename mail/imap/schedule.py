"""When mailboxes are polled: the interval, the back-off after failures (IMAP_POLL in
core/backoff.py), what the end of
a poll does to a mailbox's state and next poll, and the claim a scheduler tick takes on
the mailboxes that are due.

Nothing here talks to a server: the poller calls `mark_polled` or `mark_unavailable` in
its last transaction, and `poll_due_mailboxes` (in the poller) claims, then polls.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.backoff import IMAP_POLL
from core.jobs.claims import claim_rows
from core.models import Challenge, ChallengeChannel, ChallengeState, Connection, Mailbox
from core.models.base import utcnow
from core.models.mailbox import MailboxState
from core.services.challenges import open_challenges
from core.services.notifications import enqueue
from mail.imap.client import NEEDS_CREDENTIALS, FailureReason

POLL_EVERY = timedelta(minutes=5)
#: While a supplier is emailing a 2FA code, the person is waiting for it.
POLL_FAST = timedelta(seconds=5)
FAST_CHANNELS = (ChallengeChannel.EMAIL, ChallengeChannel.EMAIL_LINK)
#: A claimed mailbox is left alone by other schedulers this long, or until its poll ends.
CLAIM_LEASE = timedelta(minutes=10)


def poll_interval(challenges: Iterable[Challenge], *, now: datetime | None = None) -> timedelta:
    """Every POLL_EVERY, or every POLL_FAST while a challenge waits for a mailed code."""
    now = now or utcnow()
    waiting = any(
        c.state == ChallengeState.OPEN and c.channel in FAST_CHANNELS and c.expires_at > now
        for c in challenges
    )
    return POLL_FAST if waiting else POLL_EVERY


async def mark_polled(*, session: AsyncSession, mailbox: Mailbox, now: datetime) -> datetime:
    """A poll succeeded: the mailbox is active again, its failures are forgotten. Return
    its next poll. `mailbox` is locked in `session`."""
    challenges = await open_challenges(session=session, workspace_id=mailbox.workspace_id)
    if mailbox.state != MailboxState.PAUSED:
        mailbox.state = MailboxState.ACTIVE
    mailbox.last_error = None
    mailbox.failure_count = 0
    mailbox.last_polled_at = now
    next_poll_at = now + poll_interval(challenges, now=now)
    mailbox.next_poll_at = next_poll_at
    return next_poll_at


async def mark_unavailable(
    *, session: AsyncSession, mailbox: Mailbox, reason: FailureReason, now: datetime
) -> datetime | None:
    """A poll failed: count it, wait before the next one (for ever, for credentials,
    until they are replaced), and tell the workspace once per episode. Return the next
    poll. `mailbox` is locked in `session`."""
    assert mailbox.id is not None
    # A new episode starts after a success, or when the way out changes.
    new_episode = mailbox.failure_count == 0 or mailbox.last_error != reason.value
    mailbox.failure_count += 1
    if mailbox.state != MailboxState.PAUSED:
        mailbox.state = MailboxState.ERROR
    mailbox.last_error = reason.value
    mailbox.last_polled_at = now
    # Credentials do not heal by waiting.
    next_poll_at = (
        None if reason in NEEDS_CREDENTIALS else now + IMAP_POLL.wait(mailbox.failure_count)
    )
    mailbox.next_poll_at = next_poll_at
    if new_episode:
        await enqueue(
            session=session,
            kind="mailbox_error",
            workspace_id=mailbox.workspace_id,
            payload={
                "mailbox_id": mailbox.id,
                "reason": reason.value,
                "username": mailbox.username,
                "folder": mailbox.folder,
            },
            dedupe_key=f"mailbox:{mailbox.id}:{reason.value}:{now.isoformat()}",
        )
    return next_poll_at


async def claim_due_mailboxes(*, session: AsyncSession, now: datetime) -> list[int]:
    """Mailboxes whose time has come, claimed for CLAIM_LEASE so that other schedulers
    pass them by. A mailbox waiting for new credentials is never due."""
    fast = set(
        (
            await session.exec(
                select(Connection.workspace_id)
                .join(Challenge, col(Challenge.connection_id) == col(Connection.id))
                .where(
                    Challenge.state == ChallengeState.OPEN,
                    col(Challenge.channel).in_(FAST_CHANNELS),
                    col(Challenge.expires_at) > now,
                )
                .distinct()
            )
        ).all()
    )
    query = (
        select(Mailbox)
        .where(
            or_(
                (col(Mailbox.state) == MailboxState.ACTIVE)
                & (
                    col(Mailbox.next_poll_at).is_(None)
                    | (col(Mailbox.next_poll_at) <= now)
                    | col(Mailbox.workspace_id).in_(fast)
                ),
                (col(Mailbox.state) == MailboxState.ERROR)
                & col(Mailbox.next_poll_at).is_not(None)
                & (col(Mailbox.next_poll_at) <= now),
            )
        )
        .order_by(col(Mailbox.id))
    )

    def stamp(mailbox: Mailbox) -> bool:
        scheduled = mailbox.next_poll_at is None or mailbox.next_poll_at <= now
        quick = (
            mailbox.state == MailboxState.ACTIVE
            and mailbox.workspace_id in fast
            and (mailbox.last_polled_at is None or mailbox.last_polled_at + POLL_FAST <= now)
        )
        if scheduled or quick:
            mailbox.last_polled_at = now
            mailbox.next_poll_at = now + CLAIM_LEASE
        return scheduled or quick

    claimed = await claim_rows(session, query, stamp=stamp)
    return [mailbox.id for mailbox in claimed if mailbox.id is not None]
