"""IMAP mailboxes polled for invoices and codes: the client contract and its imap-tools
adapter (client), when each mailbox is due (schedule), one batch's download and record
(batch), and the poller a scheduler job calls (poller)."""

from __future__ import annotations

from mail.imap.client import (
    Account,
    Connector,
    FailureReason,
    FolderStatus,
    ImapConnector,
    MailboxClient,
    MailboxUnavailable,
    RawMessage,
    connect_imap,
    probe_mailbox,
)
from mail.imap.poller import PollOutcome, PollResult, poll_due_mailboxes, poll_mailbox
from mail.imap.schedule import poll_interval

__all__ = [
    "Account",
    "Connector",
    "FailureReason",
    "FolderStatus",
    "ImapConnector",
    "MailboxClient",
    "MailboxUnavailable",
    "PollOutcome",
    "PollResult",
    "RawMessage",
    "connect_imap",
    "poll_due_mailboxes",
    "poll_interval",
    "poll_mailbox",
    "probe_mailbox",
]
