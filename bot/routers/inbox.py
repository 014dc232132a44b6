"""The purchase inbox from the chat: a PDF, a photo or a file sent to the bot becomes a
document (stored durably and committed before the bot answers).

`/inbox` lists the documents newest invoice first, five a page, each with its supplier,
amount, date and what became of it, and one button: Review for a document held for
review (the review flow), else Open (the file, sent back with what it is, and Archive).
Previous/Next and the filters (to review, failed, this month) edit the list in place;
core lists (core/services/documents.page_documents), the bot only words it."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import SendDocument
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.accounting import document_ready
from bot.callbacks import DocumentAction, owned
from bot.context import Actor, Deps, Replies
from bot.filters import Matches
from bot.flow_callbacks import SHOW, ReviewAction
from bot.flow_render import review_button, state_label
from bot.i18n import Texts
from bot.outcomes import publish_button, word
from bot.refusals import refusal
from bot.uploads import Upload, upload_refusal
from core.errors import NotAllowed
from core.models import Document, DocumentSource, DocumentState
from core.permissions import Action
from core.services.documents import (
    DocumentPage,
    InboxFilter,
    IncomingDocument,
    Listed,
    archive_document,
    describe_document,
    ingest_document,
    page_documents,
)
from core.services.publish_reports import link_problem
from core.services.workspaces import inbox_address


async def upload(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    texts: Texts,
    say: Replies,
    upload: Upload | None = None,
) -> None:
    assert actor.workspace is not None
    assert actor.workspace_id is not None
    address = inbox_address(actor.workspace, deps.settings.mail_domain)
    refused = upload_refusal(upload, texts=texts, max_bytes=deps.max_file_bytes, address=address)
    if refused is not None or upload is None:
        say(message.answer(refused or texts("common.internal_error")))
        return
    result = await ingest_document(
        session=session,
        store=deps.store,
        incoming=IncomingDocument(
            workspace_id=actor.workspace_id,
            source=DocumentSource.TELEGRAM,
            content=upload.content,
            filename=upload.filename,
            owner_member_id=actor.member.id if actor.member else None,
        ),
    )
    document = result.document
    if not result.created:
        say(message.answer(texts("inbox.duplicate", filename=document.filename)))
        return
    line = texts("common.workspace_line", name=actor.workspace.name)
    say(message.answer(texts("inbox.saved", workspace_line=line, filename=document.filename)))
    assert document.id is not None
    document_id = document.id

    async def ready() -> None:  # the auto-publish hook, once the upload is committed
        await document_ready(deps, document_id)

    say.then(ready)


class InboxView(CallbackData, prefix="ix"):
    """A page of /inbox: the filter and the 0-based page (no ids: the list is read again
    for the presser's workspace)."""

    f: str
    p: int


#: The filters offered under the list, in this order.
FILTERS: tuple[InboxFilter, ...] = (
    InboxFilter.ALL,
    InboxFilter.REVIEW,
    InboxFilter.FAILED,
    InboxFilter.MONTH,
)


def _amount(item: Listed, texts: Texts) -> str:
    if item.amount is None:
        return "—"
    return texts.amount(item.amount, item.currency)


def _state(item: Listed, texts: Texts) -> str:
    """Refused by the books or unreadable, with why (core's label); the other states, and
    what a review waits for, as the review words them."""
    if item.label is not None and item.label.key.startswith("outcomes."):
        return word(texts, item.label)
    return state_label(item.state, item.reason, texts)


def _line(number: int, item: Listed, texts: Texts) -> str:
    return texts(
        "flows.inbox.line",
        number=number,
        supplier=item.supplier or item.filename,
        amount=_amount(item, texts),
        date=texts.day(item.day),
        state=_state(item, texts),
    )


def _document_button(number: int, item: Listed, texts: Texts) -> InlineKeyboardButton:
    """One button per document: Review for one held for review, else Open."""
    if item.reviewable:
        return review_button(item.id, number, texts)
    return InlineKeyboardButton(
        text=texts("flows.inbox.open", number=number),
        callback_data=DocumentAction(do="open", id=item.id).pack(),
    )


def render_page(
    page: DocumentPage, workspace_name: str, texts: Texts, *, publishable: bool = False
) -> tuple[str, InlineKeyboardMarkup | None]:
    workspace_line = texts("common.workspace_line", name=workspace_name)
    if page.total == 0 and page.shown == InboxFilter.ALL:
        return texts("inbox.empty"), None
    lines = [workspace_line]
    if page.total == 0:
        lines.append(texts(f"flows.inbox.empty.{page.shown}"))
    else:
        last = page.first_number + len(page.items) - 1
        lines.append(
            texts(
                f"flows.inbox.header.{page.shown}",
                first=page.first_number,
                last=last,
                total=page.total,
            )
        )
    builder = InlineKeyboardBuilder()
    buttons = []
    for number, item in enumerate(page.items, start=page.first_number):
        lines.append(_line(number, item, texts))
        buttons.append(_document_button(number, item, texts))
    for index in range(0, len(buttons), 3):
        builder.row(*buttons[index : index + 3])
    moves = []
    if page.page > 0:
        moves.append(
            InlineKeyboardButton(
                text=texts("flows.inbox.previous"),
                callback_data=InboxView(f=page.shown, p=page.page - 1).pack(),
            )
        )
    if page.page < page.pages - 1:
        moves.append(
            InlineKeyboardButton(
                text=texts("flows.inbox.next"),
                callback_data=InboxView(f=page.shown, p=page.page + 1).pack(),
            )
        )
    if moves:
        builder.row(*moves)
    builder.row(
        *(
            InlineKeyboardButton(
                text=texts(f"flows.inbox.filter.{shown}"),
                callback_data=InboxView(f=shown, p=0).pack(),
            )
            for shown in FILTERS
            if shown != page.shown
        )
    )
    if publishable:
        builder.row(publish_button(texts))  # what is ready goes when you ask: ask here
    return "\n".join(lines), builder.as_markup()


async def _publishable(session: AsyncSession, actor: Actor) -> bool:
    """Whether to offer Publish: the person may, and the accounting link works."""
    return (
        actor.workspace_id is not None
        and actor.may(Action.PUBLISH)
        and await link_problem(session=session, workspace_id=actor.workspace_id) is None
    )


async def _page(session: AsyncSession, actor: Actor, shown: InboxFilter, page: int) -> DocumentPage:
    assert actor.workspace_id is not None
    assert actor.member is not None
    return await page_documents(
        session=session,
        workspace_id=actor.workspace_id,
        by=actor.member,
        shown=shown,
        page=page,
    )


async def show(
    message: Message, actor: Actor, session: AsyncSession, texts: Texts, say: Replies
) -> None:
    assert actor.workspace is not None
    page = await _page(session, actor, InboxFilter.ALL, 0)
    publishable = await _publishable(session, actor)
    text, markup = render_page(page, actor.workspace.name, texts, publishable=publishable)
    say(message.answer(text, reply_markup=markup))


async def turn(
    query: CallbackQuery,
    callback_data: InboxView,
    actor: Actor,
    session: AsyncSession,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    """Another page or filter of the list, in place of the one shown."""
    if (
        callback_data.f not in set(InboxFilter)
        or actor.workspace is None
        or actor.member is None
        or not isinstance(query.message, Message)
    ):
        callback_answer.text = texts("common.expired")
        return
    page = await _page(session, actor, InboxFilter(callback_data.f), callback_data.p)
    publishable = await _publishable(session, actor)
    text, markup = render_page(page, actor.workspace.name, texts, publishable=publishable)
    say(query.message.edit_text(text, reply_markup=markup))


def _card(item: Listed, texts: Texts) -> tuple[str, InlineKeyboardMarkup | None]:
    """What is sent with an opened document's file: what it is, and what to do with it."""
    text = texts(
        "flows.inbox.card",
        filename=item.filename,
        supplier=item.supplier or "—",
        amount=_amount(item, texts),
        date=texts.day(item.day),
        state=_state(item, texts),
    )
    buttons = []
    if item.reviewable:
        buttons.append(
            InlineKeyboardButton(
                text=texts("review.start"),
                callback_data=ReviewAction(id=item.id, c=SHOW).pack(),
            )
        )
    if item.archivable:
        buttons.append(
            InlineKeyboardButton(
                text=texts("flows.inbox.archive"),
                callback_data=DocumentAction(do="archive", id=item.id).pack(),
            )
        )
    return text, InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


async def act(
    query: CallbackQuery,
    callback_data: DocumentAction,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    document = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="document",
        ident=callback_data.id,
        presser=actor.telegram_user_id,
    )
    if not isinstance(document, Document) or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    chat_id = query.message.chat.id
    if callback_data.do == "open":
        assert document.id is not None
        assert actor.member is not None
        item = await describe_document(
            session=session,
            workspace_id=document.workspace_id,
            document_id=document.id,
            by=actor.member,
        )
        caption, markup = _card(item, texts)
        content = await deps.store.get(document.sha256)
        say(
            SendDocument(
                chat_id=chat_id,
                document=BufferedInputFile(content, filename=document.filename),
                caption=caption,
                reply_markup=markup,
            )
        )
        return
    if document.state == DocumentState.ARCHIVED or actor.member is None:  # pressed twice
        callback_answer.text = texts("common.expired")
        return
    assert document.id is not None
    try:
        await archive_document(
            session=session,
            by=actor.member,
            workspace_id=document.workspace_id,
            document_id=document.id,
        )
    except NotAllowed as err:
        callback_answer.text = refusal(err, texts)
        return
    say(query.message.answer(texts("inbox.archived", filename=document.filename)))


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="inbox")
    router.message.register(upload, Matches(F.document | F.photo), StateFilter("*"))
    router.message.register(show, Command("inbox"), StateFilter("*"))
    router.callback_query.register(act, DocumentAction.filter(), StateFilter("*"))
    router.callback_query.register(turn, InboxView.filter(), StateFilter("*"))
    return router
