"""`/connect`: add a merchant connection by conversation, as the reference page's steps 5–8.

supplier (typed, picked) → owner → login → password (its message deleted at once) →
full history or a start date → created, and verified in the background. The result comes
back through the outbox; the chat is never blocked meanwhile.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import Cancel, HistoryPick, OwnerPick, SupplierPick, new_nonce, owned
from bot.context import Actor, Deps, Replies
from bot.i18n import Texts
from bot.secrets import PASSWORD, take_secret
from core.errors import ConnectionDuplicate, DateInvalid
from core.models import ConnectionCreate, Member, Supplier
from core.models.base import utcnow
from core.permissions import Action
from core.services.connections import check_fetch_from, create_connection
from core.services.fetch_claims import request_fetch
from core.services.members import list_members
from core.services.workspaces import inbox_address

log = logging.getLogger(__name__)

#: How long a run asked from the chat counts as interactive: someone can answer a code.
INTERACTIVE_FOR = timedelta(minutes=15)
RESULTS = 8


class Connect(StatesGroup):
    supplier = State()
    owner = State()
    login = State()
    password = State()
    history = State()
    since = State()


def _label(supplier: Supplier, texts: Texts) -> str:
    kind = supplier.portal if supplier.portal in ("pro", "personal") else "both"
    return texts(f"connect.label_{kind}", name=supplier.name)


def _cancel_row(builder: InlineKeyboardBuilder, texts: Texts) -> InlineKeyboardMarkup:
    builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
    builder.adjust(1)
    return builder.as_markup()


async def _fresh(state: FSMContext, nonce: str) -> dict[str, Any] | None:
    """The conversation's data if the button belongs to this run of it, else None."""
    data = await state.get_data()
    return data if data.get("n") == nonce else None


async def start(
    message: Message, actor: Actor, state: FSMContext, texts: Texts, say: Replies
) -> None:
    assert actor.workspace is not None
    if not actor.may(Action.ADD_CONNECTION):
        say(message.answer(texts("permissions.add_connection")))
        return
    await state.clear()
    await state.set_state(Connect.supplier)
    await state.set_data({"n": new_nonce(), "workspace_id": actor.workspace_id})
    line = texts("common.workspace_line", name=actor.workspace.name)
    say(message.answer(texts("connect.ask_supplier", workspace_line=line)))


async def search(
    message: Message, state: FSMContext, deps: Deps, texts: Texts, say: Replies
) -> None:
    query = (message.text or "").strip()
    hits = deps.search.search(query, limit=RESULTS) if query else []
    if not hits:
        say(message.answer(texts("connect.no_match", query=query[:60])))
        return
    nonce = str((await state.get_data())["n"])
    builder = InlineKeyboardBuilder()
    for hit in hits:
        assert hit.supplier.id is not None
        builder.button(
            text=_label(hit.supplier, texts),
            callback_data=SupplierPick(n=nonce, id=hit.supplier.id),
        )
    say(message.answer(texts("connect.results"), reply_markup=_cancel_row(builder, texts)))


async def pick_supplier(
    query: CallbackQuery,
    callback_data: SupplierPick,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    data = await _fresh(state, callback_data.n)
    supplier = await session.get(Supplier, callback_data.id)
    if data is None or supplier is None or not supplier.listed:
        callback_answer.text = texts("common.expired")
        return
    assert isinstance(query.message, Message)
    assert actor.workspace is not None
    if not supplier.connector_available:
        await state.clear()
        address = inbox_address(actor.workspace, deps.settings.mail_domain)
        say(
            query.message.edit_text(
                texts("connect.no_connector", supplier=supplier.name, address=address)
            )
        )
        return
    await state.update_data(supplier_id=supplier.id, supplier=supplier.name)
    say(query.message.edit_text(_label(supplier, texts)))
    assert actor.workspace_id is not None
    members = await list_members(session=session, workspace_id=actor.workspace_id)
    if len(members) == 1:
        await _ask_login(query.message, state, texts, members[0], say)
        return
    await state.set_state(Connect.owner)
    builder = InlineKeyboardBuilder()
    for member in members:
        assert member.id is not None
        builder.button(
            text=member.display_name, callback_data=OwnerPick(n=callback_data.n, id=member.id)
        )
    say(query.message.answer(texts("connect.ask_owner"), reply_markup=_cancel_row(builder, texts)))


async def _ask_login(
    message: Message, state: FSMContext, texts: Texts, owner: Member, say: Replies
) -> None:
    await state.update_data(owner_id=owner.id)
    await state.set_state(Connect.login)
    supplier = str((await state.get_data())["supplier"])
    say(message.answer(texts("connect.ask_login", supplier=supplier)))


async def pick_owner(
    query: CallbackQuery,
    callback_data: OwnerPick,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    data = await _fresh(state, callback_data.n)
    owner = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="member",
        ident=callback_data.id,
        presser=actor.telegram_user_id,
    )
    if data is None or not isinstance(owner, Member):
        callback_answer.text = texts("common.expired")
        return
    assert isinstance(query.message, Message)
    say(query.message.edit_text(owner.display_name))
    await _ask_login(query.message, state, texts, owner, say)


async def login(message: Message, state: FSMContext, texts: Texts, say: Replies) -> None:
    value = (message.text or "").strip()
    if not value or len(value) > 200:
        say(message.answer(texts("connect.empty_login")))
        return
    await state.update_data(login=value)
    await state.set_state(Connect.password)
    say(message.answer(texts("connect.ask_password")))


async def password(
    message: Message, bot: Bot, state: FSMContext, deps: Deps, texts: Texts, say: Replies
) -> None:
    secret = await take_secret(message, bot, texts, say, PASSWORD)
    if secret is None:
        return
    # Kept sealed between steps: the conversation's row never holds it in clear.
    await state.update_data(password_sealed=deps.vault.seal(secret))
    await state.set_state(Connect.history)
    nonce = str((await state.get_data())["n"])
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("connect.history_full"), callback_data=HistoryPick(n=nonce, full=True)
    )
    builder.button(
        text=texts("connect.history_since"), callback_data=HistoryPick(n=nonce, full=False)
    )
    say(message.answer(texts("connect.ask_history"), reply_markup=_cancel_row(builder, texts)))


async def pick_history(
    query: CallbackQuery,
    callback_data: HistoryPick,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    data = await _fresh(state, callback_data.n)
    if data is None:
        callback_answer.text = texts("common.expired")
        return
    assert isinstance(query.message, Message)
    choice = "connect.history_full" if callback_data.full else "connect.history_since"
    say(query.message.edit_text(texts(choice)))
    if not callback_data.full:
        await state.set_state(Connect.since)
        say(query.message.answer(texts("connect.ask_date")))
        return
    await _create(query.message, actor, session, state, deps, texts, data, None, say)


async def since(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    value = (message.text or "").strip()
    try:
        start_on = check_fetch_from(date.fromisoformat(value), today=utcnow().date())
    except (ValueError, DateInvalid):
        say(message.answer(texts("connect.date_bad", value=value[:40])))
        return
    data = await state.get_data()
    await _create(message, actor, session, state, deps, texts, data, start_on, say)


async def _create(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    data: dict[str, Any],
    start_on: date | None,
    say: Replies,
) -> None:
    await state.clear()
    supplier = str(data["supplier"])
    if data.get("workspace_id") != actor.workspace_id:
        # The person switched workspace meanwhile: this conversation is not theirs any more.
        say(message.answer(texts("common.expired")))
        return
    assert actor.workspace_id is not None
    assert actor.member is not None
    try:
        connection = await create_connection(
            session=session,
            vault=deps.vault,
            by=actor.member,
            data=ConnectionCreate(
                workspace_id=actor.workspace_id,
                supplier_id=int(data["supplier_id"]),
                owner_member_id=int(data["owner_id"]),
                login=str(data["login"]),
                password=SecretStr(deps.vault.open(str(data["password_sealed"]))),
                fetch_from=start_on,
            ),
        )
    except ConnectionDuplicate:
        say(message.answer(texts("connect.duplicate", supplier=supplier)))
        return
    request_fetch(connection, interactive_for=INTERACTIVE_FOR)
    connection_id = connection.id
    assert connection_id is not None

    async def verify() -> None:
        deps.runs.start(connection_id, announce=True)

    say.then(verify)
    say(message.answer(texts("connect.started", supplier=supplier)))


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="connect")
    router.message.register(start, Command("connect"), StateFilter("*"))
    router.message.register(search, Connect.supplier, F.text)
    router.callback_query.register(pick_supplier, Connect.supplier, SupplierPick.filter())
    router.callback_query.register(pick_owner, Connect.owner, OwnerPick.filter())
    router.message.register(login, Connect.login, F.text)
    router.message.register(password, Connect.password, F.text)
    router.callback_query.register(pick_history, Connect.history, HistoryPick.filter())
    router.message.register(since, Connect.since, F.text)
    return router
