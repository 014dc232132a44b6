"""Actions per task (issue #14): review a document with two doubtful fields, 3 or fewer.

The bakery's first invoice: a supplier Courier has never seen, and a "Total TTC" misread
(1 721,06 where the page's amounts add up to 721,06), so the totals do not add up. Marie
presses Review on the notice, the supplier as read, and the total the other amounts add
up to: the totals excl. tax and of VAT follow and are not asked, and the invoice goes to
her books by its supplier's rule. Every typed message and every press counts one.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from core.models import Document, DocumentState
from core.services.accounting import Accounting
from courier.sandbox.chat import BotMessage, TelegramUser
from tests.integration.bot import test_review as story
from tests.integration.bot.conftest import Harness
from tests.integration.bot.test_review import (
    SUPPLIER,
    _bakery_with_books,
    _notify,
    _told_outcome,
    _upload_and_read,
)
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf

# The review story's fixtures: the bakery's books, and the reader's pool stopped after.
books = story.books
_fresh_sandbox = story._fresh_sandbox

GOAL = 3
MISREAD_TOTAL = [
    line.replace("Total TTC : ", "Total TTC : 1") if line.startswith("Total TTC") else line
    for line in visible_lines(BAKERY)
]


class Counted:
    """Marie's presses, counted."""

    def __init__(self, person: TelegramUser) -> None:
        self.person = person
        self.actions = 0

    async def press(self, label: str, message: BotMessage) -> BotMessage:
        self.actions += 1
        await self.person.press(label, message=message)
        return await self.person.wait_for_reply()


async def test_review_a_document_with_two_doubtful_fields(
    harness: Harness, books: tuple[Accounting, Path], tmp_path: Path
) -> None:
    acc, ledger = books
    _, marie = await _bakery_with_books(harness, acc, ledger)
    held = await _upload_and_read(harness, acc, marie, build_pdf(MISREAD_TOTAL))
    assert (held.state, held.state_reason) == (DocumentState.NEEDS_REVIEW, "totals_mismatch")
    assert held.id is not None
    await _notify(harness, tmp_path)
    notice = await marie.wait_for_reply()

    counted = Counted(marie)
    asked = await counted.press("Review", notice)
    assert "Who is the supplier?" in asked.text
    total = await counted.press(f"{SUPPLIER} ✓", asked)
    assert "What is the total incl. tax?" in total.text
    assert total.labels[:2] == ["1721.06 ✓", "721.06"]
    done = await counted.press("721.06", total)
    assert "facture.pdf is complete" in done.text

    print(f"ACTIONS review: {counted.actions} (goal <= {GOAL})", flush=True)
    assert counted.actions <= GOAL

    await _told_outcome(harness, held.id)
    await _notify(harness, tmp_path)
    assert (await marie.wait_for_reply()).text == "facture.pdf is published to your books."
    async with harness.db.read() as session:
        document = (await session.exec(select(Document).where(Document.id == held.id))).one()
    assert document.state == DocumentState.PUBLISHED
    assert str(document.total_amount) == "721.06"
    assert document.fields["total_tax"]["source"] == "derived"
    assert ledger.read_text(encoding="utf-8").count("courier_key:") == 1
