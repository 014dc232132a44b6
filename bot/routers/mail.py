"""`/mail`: the workspace's forwarding address and its watched IMAP mailboxes; owners and
admins add one (host, user, secret: the secret's message is deleted at once) or remove one.
A mailbox is added only once Courier logged in to it, and never on a private host unless the
operator allows it."""

from __future__ import annotations

import re

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import Cancel, InboundAction, MailboxAction, owned
from bot.context import Actor, Deps, Replies
from bot.i18n import Texts
from bot.secrets import MAILBOX_SECRET, take_secret
from core.models import InboundMessage, Mailbox, MailboxCreate
from core.models.base import utcnow
from core.permissions import Action, acting
from core.services.mailboxes import add_mailbox, list_mailboxes, remove_mailbox
from core.services.workspaces import inbox_address
from mail.imap.client import (
    Account,
    ImapConnector,
    MailboxUnavailable,
    is_loopback,
    is_private,
    probe_mailbox,
)
from mail.keeping import NothingToKeep, keep_set_aside

HOST = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9.-]{0,198}[A-Za-z0-9])?)(?::(\d{1,5}))?$")


class MailboxAdd(StatesGroup):
    host = State()
    user = State()
    secret = State()


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
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    if not actor.may(Action.MANAGE_MAILBOXES):
        callback_answer.text = texts("permissions.manage_mailboxes")
        return
    if not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    if callback_data.do == "add":
        await state.clear()
        await state.set_state(MailboxAdd.host)
        await state.set_data({"workspace_id": actor.workspace_id})
        builder = InlineKeyboardBuilder()
        builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
        say(query.message.answer(texts("mail.ask_host"), reply_markup=builder.as_markup()))
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


async def host(message: Message, state: FSMContext, deps: Deps, texts: Texts, say: Replies) -> None:
    value = (message.text or "").strip().lower()
    match = HOST.match(value)
    if match is None or "." not in match.group(1):
        say(message.answer(texts("mail.host_bad", value=value[:60])))
        return
    port = int(match.group(2) or 993)
    if not 1 <= port <= 65535:
        say(message.answer(texts("mail.host_bad", value=value[:60])))
        return
    if not deps.settings.mailbox_allow_private and _private_literal(match.group(1)):
        # Said at once for an address; a name is resolved and checked when it is tried.
        say(message.answer(texts("mail.host_refused", value=value[:60])))
        return
    await state.update_data(host=match.group(1), port=port)
    await state.set_state(MailboxAdd.user)
    say(message.answer(texts("mail.ask_user")))


async def user(message: Message, state: FSMContext, texts: Texts, say: Replies) -> None:
    value = (message.text or "").strip()
    if not value or len(value) > 200:
        say(message.answer(texts("connect.empty_login")))
        return
    await state.update_data(user=value)
    await state.set_state(MailboxAdd.secret)
    say(message.answer(texts("mail.ask_secret")))


async def secret(
    message: Message,
    bot: Bot,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    value = await take_secret(message, bot, texts, say, MAILBOX_SECRET)
    if value is None:
        return
    data = await state.get_data()
    await state.clear()
    if data.get("workspace_id") != actor.workspace_id or actor.workspace_id is None:
        say(message.answer(texts("common.expired")))
        return
    new = MailboxCreate(
        workspace_id=actor.workspace_id,
        host=str(data["host"]),
        port=int(data["port"]),
        username=str(data["user"]),
        secret=SecretStr(value),
    )
    say(message.answer(texts("mail.checking")))
    # The check logs in over the network, for up to the socket timeout: it runs after this
    # update's transaction, which on SQLite is the one writer, and adds in its own.
    assert actor.member is not None
    assert actor.member.id is not None
    adder = actor.member.id
    say.then(lambda: _check_then_add(bot, message, deps, texts, new, adder))


async def _check_then_add(
    bot: Bot, message: Message, deps: Deps, texts: Texts, new: MailboxCreate, adder: int
) -> None:
    account = Account(host=new.host, port=new.port, username=new.username)
    connect = ImapConnector(allow_private=deps.settings.mailbox_allow_private)
    try:
        await probe_mailbox(account, new.secret, new.folder, connect=connect)
    except MailboxUnavailable as failure:
        why = texts(
            f"mail.check_{failure.reason.value}",
            host=new.host,
            port=new.port,
            user=new.username,
            folder=new.folder,
        )
        await bot(message.answer(why))
        return
    async with deps.db.transaction() as session:
        # Asked again in this transaction: the person's role may have changed meanwhile.
        by = await acting(session=session, member_id=adder)
        mailbox = await add_mailbox(session=session, vault=deps.vault, data=new, by=by)
    await bot(message.answer(texts("mail.added", user=mailbox.username, host=mailbox.host)))


def _private_literal(host: str) -> bool:
    """An IP address (not a name) that no public mail server has."""
    try:
        return is_loopback(host) or is_private(host)
    except ValueError:
        return is_loopback(host)


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="mail")
    router.message.register(show, Command("mail"), StateFilter("*"))
    router.callback_query.register(act, MailboxAction.filter(), StateFilter("*"))
    router.callback_query.register(keep, InboundAction.filter(), StateFilter("*"))
    router.message.register(host, MailboxAdd.host, F.text)
    router.message.register(user, MailboxAdd.user, F.text)
    router.message.register(secret, MailboxAdd.secret, F.text)
    return router
