"""What the check of a new mailbox tells the person, from the IMAP client's failures."""

from __future__ import annotations

import pytest

from core.services.mailboxes import CheckOutcome
from mail.imap.check import outcome_of
from mail.imap.client import FailureReason, MailboxUnavailable


@pytest.mark.parametrize(
    ("reason", "detail", "told"),
    [
        (FailureReason.UNREACHABLE, "SSLCertVerificationError", CheckOutcome.TLS),
        (FailureReason.UNREACHABLE, "SSLError", CheckOutcome.TLS),
        (FailureReason.UNREACHABLE, "ConnectionRefusedError", CheckOutcome.UNREACHABLE),
        (FailureReason.UNREACHABLE, "TimeoutError", CheckOutcome.UNREACHABLE),
        (FailureReason.AUTH_FAILED, "error", CheckOutcome.AUTH_FAILED),
        (FailureReason.HOST_REFUSED, "private address", CheckOutcome.HOST_REFUSED),
    ],
)
def test_a_failure_is_told_as_the_one_a_person_can_act_on(
    reason: FailureReason, detail: str, told: CheckOutcome
) -> None:
    assert outcome_of(MailboxUnavailable(reason, detail=detail)) == told


def test_every_failure_of_the_client_has_an_outcome() -> None:
    for reason in FailureReason:
        assert outcome_of(MailboxUnavailable(reason, detail="x")).value == reason.value
