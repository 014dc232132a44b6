"""`/mail`: the workspace's forwarding address and its watched IMAP mailboxes; owners and
admins add one or remove one. Adding is core's conversation (core/flows/mailbox.py): a
mailbox is added only once Courier logged in to it, and never on a private host unless the
operator allows it; this router only starts it from the "Add a mailbox" button."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import InboundAction, MailboxAction, owned
from bot.context import Actor, Deps, Replies
from bot.flows import flow_actor, flow_key, word
from bot.flows import show as show_step
from bot.i18n import Texts
from core.flows.steps import Abort
from core.models import InboundMessage, Mailbox
from core.models.base import utcnow
from core.permissions import Action
from core.services.mailboxes import list_mailboxes, remove_mailbox
from core.services.workspaces import inbox_address
from mail.keeping import NothingToKeep, keep_set_aside


async def show(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace is not None
    assert actor.workspace_id is not None
    await state.clear()
    line = texts("common.workspace_line", name=actor.workspace.name)
    address = inbox_address(actor.workspace, deps.settings.mail_domain)
    lines = [texts("mail.header", workspace_line=line, address=address)]
    mailboxes = await list_mailboxes(session=session, workspace_id=actor.workspace_id)
    lines.append(texts("mail.mailboxes") if mailboxes else texts("mail.no_mailboxes"))
    builder = InlineKeyboardBuilder()
    for number, mailbox in enumerate(mailboxes, start=1):
        assert mailbox.id is not None
        lines.append(
            texts(
                "mail.mailbox_line",
                number=number,
                user=mailbox.username,
                host=mailbox.host,
                folder=mailbox.folder,
                state=texts(f"mail.state_{mailbox.state}"),
            )
        )
        builder.button(
            text=texts("mail.remove", number=number),
            callback_data=MailboxAction(do="remove", id=mailbox.id),
        )
    builder.button(text=texts("mail.add"), callback_data=MailboxAction(do="add"))
    builder.adjust(1)
    markup = builder.as_markup() if actor.may(Action.MANAGE_MAILBOXES) else None
    say(message.answer("\n".join(lines), reply_markup=markup))


async def act(
    query: CallbackQuery,
    callback_data: MailboxAction,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    key = flow_key(query)
    if key is None or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    if callback_data.do == "add":
        # The conversation is core's (core/flows/mailbox.py), which checks the role.
        await state.clear()
        who = flow_actor(actor, texts)
        shown = await deps.flows.start(session=session, key=key, name="mailbox", actor=who)
        if isinstance(shown.step, Abort):
            callback_answer.text = word(texts, shown.step.reason)
            return
        show_step(shown, message=query.message, texts=texts, say=say)
        return
    if not actor.may(Action.MANAGE_MAILBOXES):
        callback_answer.text = texts("permissions.manage_mailboxes")
        return
    mailbox = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="mailbox",
        ident=callback_data.id,
        presser=actor.telegram_user_id,
    )
    if not isinstance(mailbox, Mailbox) or mailbox.id is None:
        callback_answer.text = texts("common.expired")
        return
    assert actor.workspace_id is not None
    assert actor.member is not None
    await remove_mailbox(
        session=session,
        workspace_id=actor.workspace_id,
        mailbox_id=mailbox.id,
        by=actor.member,
    )
    say(query.message.answer(texts("mail.removed", user=mailbox.username, host=mailbox.host)))


async def keep(
    query: CallbackQuery,
    callback_data: InboundAction,
    actor: Actor,
    session: AsyncSession,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    """ "Keep them" on a mail's notice: its set-aside images become documents. A press for
    another workspace's mail (forged or replayed) is refused like any other button."""
    message = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="inbound",
        ident=callback_data.id,
        presser=actor.telegram_user_id,
    )
    if not isinstance(message, InboundMessage) or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    try:
        kept = await keep_set_aside(
            session=session, store=deps.store, message=message, now=utcnow()
        )
    except NothingToKeep:
        callback_answer.text = texts("mail.nothing_to_keep")
        return
    say(query.message.answer(texts("mail.kept", count=len(kept))))


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="mail")
    router.message.register(show, Command("mail"), StateFilter("*"))
    router.callback_query.register(act, MailboxAction.filter(), StateFilter("*"))
    router.callback_query.register(keep, InboundAction.filter(), StateFilter("*"))
    return router
