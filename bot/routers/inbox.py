"""The purchase inbox from the chat: a PDF, a photo or a file sent to the bot becomes a
document (stored durably and committed before the bot answers); `/inbox` lists the latest,
each can be opened (the bot sends the file back) or archived."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.accounting import document_ready
from bot.callbacks import DocumentAction, owned
from bot.context import Actor, Deps, Replies
from bot.flow_render import review_button
from bot.i18n import Texts
from bot.outcomes import publish_button, word
from bot.refusals import refusal
from bot.uploads import Upload, upload_refusal
from core.errors import NotAllowed
from core.models import Document, DocumentSource, DocumentState
from core.permissions import Action, allows
from core.services.documents import (
    IncomingDocument,
    archive_document,
    ingest_document,
    list_documents,
)
from core.services.publish_reports import link_problem, state_labels
from core.services.workspaces import inbox_address

LISTED = 8


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


def _line(number: int, document: Document, texts: Texts, state: str) -> str:
    return texts(
        "inbox.line",
        number=number,
        filename=document.filename,
        source=texts(f"inbox.source_{document.source}"),
        supplier=document.supplier_name or texts("inbox.unknown_supplier"),
        date=(document.issue_date or document.received_at.date()).isoformat(),
        state=state,
    )


def _may_archive(actor: Actor, document: Document) -> bool:
    return actor.member is not None and allows(
        actor.member,
        Action.ARCHIVE_DOCUMENT,
        workspace_id=document.workspace_id,
        resource_owner_id=document.owner_member_id,
    )


async def show(
    message: Message, actor: Actor, session: AsyncSession, texts: Texts, say: Replies
) -> None:
    assert actor.workspace is not None
    assert actor.workspace_id is not None
    documents = await list_documents(session=session, workspace_id=actor.workspace_id, limit=LISTED)
    if not documents:
        say(message.answer(texts("inbox.empty")))
        return
    lines = [
        texts(
            "inbox.header",
            workspace_line=texts("common.workspace_line", name=actor.workspace.name),
        )
    ]
    # What each state really means: refused by the books (with why), unreadable (why).
    labels = await state_labels(session=session, documents=documents)
    builder = InlineKeyboardBuilder()
    for number, document in enumerate(documents, start=1):
        assert document.id is not None
        lines.append(_line(number, document, texts, word(texts, labels[document.id])))
        buttons = [
            InlineKeyboardButton(
                text=texts("inbox.open", number=number),
                callback_data=DocumentAction(do="open", id=document.id).pack(),
            )
        ]
        if document.state == DocumentState.NEEDS_REVIEW:
            buttons.append(review_button(document.id, number, texts))
        if document.state != DocumentState.ARCHIVED and _may_archive(actor, document):
            buttons.append(
                InlineKeyboardButton(
                    text=texts("inbox.archive", number=number),
                    callback_data=DocumentAction(do="archive", id=document.id).pack(),
                )
            )
        builder.row(*buttons)
    if (
        actor.may(Action.PUBLISH)
        and await link_problem(session=session, workspace_id=actor.workspace_id) is None
    ):
        builder.row(publish_button(texts))  # what is ready goes when you ask: ask here
    say(message.answer("\n".join(lines), reply_markup=builder.as_markup()))


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
        content = await deps.store.get(document.sha256)
        say(
            SendDocument(
                chat_id=chat_id, document=BufferedInputFile(content, filename=document.filename)
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
    router.message.register(upload, F.document | F.photo, StateFilter("*"))
    router.message.register(show, Command("inbox"), StateFilter("*"))
    router.callback_query.register(act, DocumentAction.filter(), StateFilter("*"))
    return router
