"""Review in the chat: a document held for review (`needs_review`) shows what was read and
asks only what is missing or doubtful, one question at a time (core/services/review.py
decides; this router words it). The likely answers are buttons — what was read is one
press ("118.80 ✓"), ✏️ lets the person type the value instead. Answers are stored with
source `user`; when nothing is left to ask, the document is ready, and published at once
when a link and its supplier's rule allow (core.services.publishing.on_document_ready).

Reached from the notification that a document needs review, and from /inbox's "Review".
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.accounting import document_ready
from bot.callbacks import Cancel, new_nonce, owned
from bot.context import Actor, Deps, Replies
from bot.flow_callbacks import SHOW, TYPE, ReviewAction
from bot.i18n import Texts
from bot.refusals import refusal
from core.errors import AnswerInvalid, NotAllowed
from core.models import Document, DocumentState
from core.permissions import Action, allows
from core.services.review import CONFIRMATIONS, Question, answer_question, ask_next


class Typing(StatesGroup):
    value = State()


def reason_text(reason: str | None, texts: Texts) -> str:
    key = f"review.reason_{reason}"
    return texts(key) if texts.has(key) else texts("review.reason_other")


def _read(document: Document, name: str) -> str | None:
    """A value as read from the page, even one not trusted enough for the columns."""
    item = (document.fields or {}).get(name)
    value = item.get("value") if isinstance(item, dict) else None
    return None if value is None else str(value)


def summary(document: Document, texts: Texts) -> str:
    """What was read, in one block: the person sees it before the question."""
    unknown = texts("review.unknown")
    amount = document.total_amount if document.total_amount is not None else None
    total = str(amount) if amount is not None else _read(document, "total_incl_tax")
    currency = document.currency or _read(document, "currency") or ""
    day = document.issue_date.isoformat() if document.issue_date else None
    return texts(
        "review.summary",
        filename=document.filename,
        supplier=document.supplier_name or _read(document, "supplier_name") or unknown,
        total=f"{total} {currency}".strip() if total is not None else unknown,
        date=day or _read(document, "issue_date") or unknown,
        reason=reason_text(document.state_reason, texts),
    )


def question_message(question: Question, texts: Texts) -> tuple[str, InlineKeyboardMarkup]:
    confirming = question.field in CONFIRMATIONS.values()
    text = texts(question.key, read=question.read or "")
    if question.read and not confirming:
        text = f"{text}\n{texts('review.read', value=question.read)}"
    builder = InlineKeyboardBuilder()
    for index, choice in enumerate(question.choices):
        if confirming:
            label = texts(f"review.{choice}")
        elif choice == question.read:
            label = texts("review.read_button", value=choice)
        else:
            label = choice
        builder.button(
            text=label,
            callback_data=ReviewAction(id=question.document_id, f=question.field, c=index),
        )
    if not confirming:
        builder.button(
            text=texts("review.type_button"),
            callback_data=ReviewAction(id=question.document_id, f=question.field, c=TYPE),
        )
    builder.button(text=texts("review.later"), callback_data=Cancel())
    builder.adjust(3)
    return text, builder.as_markup()


def _may_answer(actor: Actor, question: Question) -> bool:
    """Confirmations of trust are for owners and admins (core/permissions.py)."""
    if question.field not in CONFIRMATIONS.values():
        return True
    return (
        actor.member is not None
        and actor.workspace_id is not None
        and allows(actor.member, Action.CONFIRM_TRUST, workspace_id=actor.workspace_id)
    )


async def _document(session: AsyncSession, actor: Actor, ident: int) -> Document | None:
    found = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="document",
        ident=ident,
        presser=actor.telegram_user_id,
    )
    return found if isinstance(found, Document) else None


async def step(
    query: CallbackQuery,
    callback_data: ReviewAction,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    document = await _document(session, actor, callback_data.id)
    if document is None or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    assert actor.workspace_id is not None
    assert document.id is not None
    message = query.message
    question = None
    if document.state in (DocumentState.NEEDS_REVIEW, DocumentState.INBOX):
        question = await ask_next(
            session=session, workspace_id=actor.workspace_id, document_id=document.id
        )
    if callback_data.c == SHOW:
        await state.clear()
        if question is None:
            say(message.answer(texts("review.nothing", filename=document.filename)))
            return
        if not _may_answer(actor, question):  # not asked: its buttons would only refuse
            refused = refusal(NotAllowed(action=str(Action.CONFIRM_TRUST)), texts)
            say(message.answer(f"{summary(document, texts)}\n\n{refused}"))
            return
        text, markup = question_message(question, texts)
        say(message.answer(f"{summary(document, texts)}\n\n{text}", reply_markup=markup))
        return
    # An answer is for the question asked now: an older button of the same document
    # (answered since, or from another chat) has expired.
    if question is None or question.field != callback_data.f:
        callback_answer.text = texts("common.expired")
        return
    if callback_data.c == TYPE:
        await state.clear()
        await state.set_state(Typing.value)
        await state.set_data(
            {"n": new_nonce(), "document_id": document.id, "field": question.field}
        )
        say(message.answer(texts("review.type_now", field=texts(f"review.field_{question.field}"))))
        return
    if not 0 <= callback_data.c < len(question.choices):
        callback_answer.text = texts("common.expired")
        return
    await state.clear()
    say(message.edit_reply_markup(reply_markup=None))
    await _answer(
        message,
        bot,
        deps,
        session,
        actor,
        texts,
        say,
        document=document,
        field=question.field,
        answer=question.choices[callback_data.c],
    )


async def typed(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    data = await state.get_data()
    document = await _document(session, actor, int(data["document_id"]))
    field = str(data["field"])
    question = None
    if document is not None and document.id is not None and actor.workspace_id is not None:
        question = await ask_next(
            session=session, workspace_id=actor.workspace_id, document_id=document.id
        )
    if document is None or question is None or question.field != field:
        await state.clear()
        say(message.answer(texts("common.expired")))
        return
    answered = await _answer(
        message,
        bot,
        deps,
        session,
        actor,
        texts,
        say,
        document=document,
        field=field,
        answer=message.text or "",
    )
    if answered:
        await state.clear()


async def _answer(
    message: Message,
    bot: Bot,
    deps: Deps,
    session: AsyncSession,
    actor: Actor,
    texts: Texts,
    say: Replies,
    *,
    document: Document,
    field: str,
    answer: str,
) -> bool:
    """Store the answer; say the next question, or that the document is done. False when
    the answer cannot be the field's (the person is told why and may try again)."""
    assert actor.workspace_id is not None
    assert actor.member is not None
    assert document.id is not None
    try:
        upcoming = await answer_question(
            session=session,
            workspace_id=actor.workspace_id,
            document_id=document.id,
            field=field,
            answer=answer,
            by=actor.member,
        )
    except NotAllowed as err:
        say(message.answer(refusal(err, texts)))
        return True  # nothing to type again: the question is not theirs
    except AnswerInvalid as err:
        reason = str(err.params.get("reason", ""))
        key = f"review.invalid_{reason}"
        say(message.answer(texts(key) if texts.has(key) else texts("review.invalid_other")))
        return False
    if upcoming is not None:
        text, markup = question_message(upcoming, texts)
        say(message.answer(text, reply_markup=markup))
        return True
    if document.state == DocumentState.FAILED:
        say(message.answer(texts("review.refused", filename=document.filename)))
        return True
    say(message.answer(texts("review.done", filename=document.filename)))
    document_id, chat_id, filename = document.id, message.chat.id, document.filename

    async def publish() -> None:
        outcome = await document_ready(deps, document_id)
        if outcome is not None and outcome.state == "published":
            await bot.send_message(chat_id, texts("review.published", filename=filename))

    say.then(publish)
    return True


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="review")
    router.callback_query.register(step, ReviewAction.filter(), StateFilter("*"))
    router.message.register(typed, Typing.value, F.text)
    return router
