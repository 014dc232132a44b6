"""Button data stays under Telegram's 64 bytes and carries ids only."""

from __future__ import annotations

from bot.callbacks import (
    ChallengePick,
    ConnectionAction,
    DocumentAction,
    MailboxAction,
    WorkspacePick,
)

BIG = 2**63 - 1


def test_the_largest_button_data_fits_in_64_bytes() -> None:
    buttons = [
        WorkspacePick(id=BIG),
        ChallengePick(id=BIG),
        ConnectionAction(do="reconnect", id=BIG),
        DocumentAction(do="archive", id=BIG),
        MailboxAction(do="remove", id=BIG),
    ]
    for button in buttons:
        assert len(button.pack().encode()) <= 64, button.pack()


def test_a_button_unpacks_to_what_was_packed() -> None:
    packed = ConnectionAction(do="fetch", id=42).pack()
    assert packed == "ca:fetch:42"
    assert ConnectionAction.unpack(packed) == ConnectionAction(do="fetch", id=42)
