"""The gateway's aiosmtpd handler: accept fast, and answer 250 only once it is durable.

As in Mailman's LMTP runner, the handler does the least it can: it checks recipients at
RCPT time, and at DATA time stores the raw message and commits one row per workspace.
Reading the message (files, codes, links) happens after the answer, in the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from core.db import Database
from core.services.inbound import Recipient, resolve_recipient, stored_bytes
from core.storage import DocumentStore
from mail.parse.headers import header_section
from mail.smtp.committer import Arrival, GroupCommitter

log = logging.getLogger(__name__)

OK = "250 2.0.0 Message accepted for delivery"
RCPT_OK = "250 2.1.5 Recipient ok"
NO_SUCH_USER = "550 5.1.1 No such mailbox here"
TRY_LATER = "451 4.3.0 Temporary failure, please retry later"
KNOWN_TTL = 30.0
CLOSING = "421 4.3.0 Service not available, closing the session"
OVER_QUOTA = "452 4.2.2 Mailbox over its quota, please retry later"
#: How long a workspace's stored total is trusted before it is summed again. Between two
#: sums, what this process accepts is added to it as it goes.
USAGE_TTL = 30.0


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID, read from the headers only: cheap, and never raises."""
    try:
        headers = header_section(raw)
        value = headers.get("Message-ID")
        return str(value).strip() if value else None
    except Exception:  # a broken header is the worker's problem, not the gateway's
        return None


class GatewayHandler:
    """aiosmtpd hooks. Only the ones it needs: RCPT, DATA and exceptions."""

    def __init__(
        self,
        *,
        db: Database,
        store: DocumentStore,
        mail_domain: str,
        on_accepted: Callable[[], None] = lambda: None,
        quota_bytes: int | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.mail_domain = mail_domain
        self.on_accepted = on_accepted
        self.committer = GroupCommitter(db, store)
        self._known: dict[str, tuple[float, Recipient]] = {}
        #: Raw mail one workspace may keep: one sender cannot fill the disk for everyone.
        self.quota_bytes = quota_bytes
        self._usage: dict[int, tuple[float, int]] = {}

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        recipient = await self._resolve(address)
        if recipient is None:
            return NO_SUCH_USER
        if recipient.workspace_id is not None and await self._over_quota([recipient], 0):
            return OVER_QUOTA
        envelope.rcpt_tos.append(address)
        # Kept on the envelope so DATA does not resolve the addresses again.
        resolved: list[Recipient] = getattr(envelope, "courier_recipients", [])
        resolved.append(recipient)
        envelope.courier_recipients = resolved  # type: ignore[attr-defined]
        return RCPT_OK

    async def _resolve(self, address: str) -> Recipient | None:
        """Known addresses are remembered briefly; unknown ones never are, so a workspace
        created a second ago receives its first mail rather than a permanent 550."""
        key = address.lower()
        cached = self._known.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self.db.read() as db_session:
            recipient = await resolve_recipient(
                session=db_session, address=address, mail_domain=self.mail_domain
            )
        if recipient is not None:
            self._known[key] = (time.monotonic() + KNOWN_TTL, recipient)
        return recipient

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        recipients: list[Recipient] = getattr(envelope, "courier_recipients", [])
        by_workspace: dict[int | None, Recipient] = {}
        for recipient in recipients:  # slug@ and slug+tag@ in one message: delivered once
            by_workspace.setdefault(recipient.workspace_id, recipient)
        if await self._over_quota(list(by_workspace.values()), len(raw)):
            # Temporary: the sender keeps the message and retries once the owner made room.
            return OVER_QUOTA
        arrival = Arrival(
            raw=raw,
            recipients=list(by_workspace.values()),
            # The null sender (bounces, some billing robots) is "<>" on the wire.
            mail_from="" if envelope.mail_from in (None, "<>") else envelope.mail_from,
            message_id=header_message_id(raw),
            peer=str(session.peer[0]) if isinstance(session.peer, tuple) else None,
            helo=session.host_name,
        )
        try:
            await self.committer.keep(arrival)
        except Exception:
            # The sender keeps the message and retries: nothing is lost, nothing half-kept.
            log.exception("could not make an inbound message durable; answered 451")
            return TRY_LATER
        for workspace_id in by_workspace:
            if workspace_id is not None and workspace_id in self._usage:
                until, used = self._usage[workspace_id]
                self._usage[workspace_id] = (until, used + len(raw))
        self.on_accepted()
        return OK

    async def _over_quota(self, recipients: list[Recipient], size: int) -> bool:
        """True if a recipient workspace's stored raw mail, with `size` more, passes the
        quota. At RCPT (`size` 0) a workspace already full is refused before any DATA."""
        if self.quota_bytes is None:
            return False
        now = time.monotonic()
        ids = [r.workspace_id for r in recipients if r.workspace_id is not None]
        stale = [i for i in ids if i not in self._usage or self._usage[i][0] <= now]
        if stale:
            async with self.db.read() as db_session:
                totals = await stored_bytes(session=db_session, workspace_ids=stale)
            for workspace_id, total in totals.items():
                self._usage[workspace_id] = (now + USAGE_TTL, total)
        limit = self.quota_bytes
        return any(self._usage[i][1] + size > limit or self._usage[i][1] >= limit for i in ids)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers a permanent 500 with the exception's text: a sender
        # would drop the invoice, and the text may leak internals.
        log.warning("SMTP session error: %s", type(error).__name__)
        return CLOSING

    def __repr__(self) -> str:
        return f"GatewayHandler(domain={self.mail_domain!r})"
