"""Core's `MailboxCheck` over real IMAP: the login a new mailbox must pass before it is
added (core/flows/mailbox.py), with its failure said as one a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from core.services.mailboxes import CheckOutcome, MailboxTarget
from mail.imap.client import (
    Account,
    FailureReason,
    ImapConnector,
    MailboxUnavailable,
    probe_mailbox,
)

#: A person waits for this check in the chat: a dead server is told sooner than the
#: poller's 30 s, and the socket timeout bounds each network wait of the login.
CHECK_TIMEOUT = 15.0


def outcome_of(failure: MailboxUnavailable) -> CheckOutcome:
    """The failure as the check tells it. A TLS handshake that fails is an OSError, which
    the client counts as "unreachable"; its detail (the exception's class name) tells it
    apart, so the person hears about the certificate or the port, not a silent server."""
    if failure.reason == FailureReason.UNREACHABLE and failure.detail.startswith("SSL"):
        return CheckOutcome.TLS
    return CheckOutcome(failure.reason.value)


@dataclass(frozen=True, slots=True)
class ImapCheck:
    """The operator's policy (private hosts) and a short timeout, as the chat needs."""

    allow_private: bool = False
    socket_timeout: float = CHECK_TIMEOUT

    async def __call__(self, target: MailboxTarget, secret: SecretStr) -> CheckOutcome:
        account = Account(host=target.host, port=target.port, username=target.username)
        connect = ImapConnector(
            allow_private=self.allow_private, socket_timeout=self.socket_timeout
        )
        try:
            await probe_mailbox(account, secret, target.folder, connect=connect)
        except MailboxUnavailable as failure:
            return outcome_of(failure)
        return CheckOutcome.OK
