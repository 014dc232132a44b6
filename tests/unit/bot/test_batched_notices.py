"""Several mails in one notice: each one's images set aside keep their offer and button.

A burst of mail is told in one message (`render_batch`). A mail whose logos were set
aside still says so there, with a button that keeps that mail's images and no other's.
"""

from __future__ import annotations

from typing import Any

from bot.callbacks import InboundAction
from bot.i18n import Texts
from bot.notify_render import Facts, render_batch


def received(inbound_id: int, subject: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    payload = {"inbound_id": inbound_id, "subject": subject, "document_ids": [inbound_id]}
    return "documents_received", payload | extra


def test_each_mail_in_a_batch_offers_to_keep_its_own_images() -> None:
    rows = [
        received(7, "Invoice March", set_aside=["logo.png", "image001.png"], set_aside_count=2),
        received(8, "Receipt"),
        received(9, "A very long subject line that goes on and on", set_aside=["scan.jpg"]),
    ]
    outgoing = render_batch(rows, texts=Texts("en"), facts=Facts())

    assert outgoing.text.splitlines() == [
        "New in the inbox:",
        "• by email, “Invoice March”: 1",
        "  2 images set aside as logos: logo.png, image001.png. Keep them?",
        "• by email, “Receipt”: 1",
        "• by email, “A very long subject line that goes on and on”: 1",
        "  1 image set aside as a logo: scan.jpg. Keep it?",
    ]
    assert outgoing.markup is not None
    buttons = [button for row in outgoing.markup.inline_keyboard for button in row]
    assert [InboundAction.unpack(b.callback_data or "").id for b in buttons] == [7, 9]
    assert buttons[0].text == "Keep the images of “Invoice March”"
    # Cut to fit a phone's width, and still saying whose images they are.
    assert buttons[1].text == "Keep the images of “A very long subject line that…”"


def test_a_batch_without_set_aside_images_has_no_buttons() -> None:
    outgoing = render_batch(
        [received(1, "One"), received(2, "Two")], texts=Texts("fr"), facts=Facts()
    )
    assert outgoing.markup is None
    assert "mise" not in outgoing.text
