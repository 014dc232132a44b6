"""`/connections`: each connection's state, last and next fetch, and the one action that
fixes a state that needs the person (the reference page's troubleshooting list, in the
bot's words). Owners and admins act on every connection, a member on their own
(core/services/connection_controls.py checks); the others they only look at."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import Cancel, ConnectionAction, ConnectionVerb, new_nonce, owned
from bot.context import Actor, Deps, Replies
from bot.i18n import Texts
from bot.refusals import refusal
from bot.routers.connect import INTERACTIVE_FOR
from bot.secrets import PASSWORD, take_secret
from core.errors import IllegalTransition, NotAllowed
from core.models import Connection, ConnectionState, Supplier
from core.permissions import Action
from core.services import connection_controls as controls
from core.services.connections import list_connections

S = ConnectionState

#: The states that need the person, and the button that fixes each.
FIX: dict[ConnectionState, ConnectionVerb] = {
    S.NEEDS_USER: "fetch",
    S.AUTH_FAILED: "update",
    S.ACTION_REQUIRED: "reconnect",
    S.TEMP_ERROR: "fetch",
    S.DISABLED: "resume",
    S.BROKEN: "reconnect",
}


class Credentials(StatesGroup):
    login = State()
    password = State()


def _when(value: datetime | None, texts: Texts, empty: str) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else texts(empty)


def explain(connection: Connection) -> str | None:
    """The key of the one sentence a state that needs action says, if any."""
    state = S(connection.state)
    if state in FIX or state in (S.AWAITING_CODE, S.AWAITING_APPROVAL):
        return f"connections.help_{state}"
    return None


def detail(connection: Connection, supplier: Supplier, texts: Texts) -> str:
    text = texts(
        "connections.detail",
        supplier=supplier.name,
        login=connection.login,
        state=texts(f"connections.state_{connection.state}"),
        last=_when(connection.last_attempt_at, texts, "common.never"),
        next=_when(connection.next_fetch_at, texts, "common.not_planned"),
    )
    key = explain(connection)
    return f"{text}\n\n{texts(key)}" if key else text


def actions(connection: Connection, texts: Texts) -> InlineKeyboardMarkup:
    assert connection.id is not None
    state = S(connection.state)
    verbs: list[ConnectionVerb] = []
    fix = FIX.get(state)
    if fix:
        verbs.append(fix)
    if state != S.DISABLED and "fetch" not in verbs:
        verbs.append("fetch")
    if "update" not in verbs:
        verbs.append("update")
    verbs.append("resume" if state == S.DISABLED else "pause")
    verbs.append("remove")
    builder = InlineKeyboardBuilder()
    for verb in dict.fromkeys(verbs):
        builder.button(
            text=texts(f"connections.{verb}"),
            callback_data=ConnectionAction(do=verb, id=connection.id),
        )
    builder.adjust(1)
    return builder.as_markup()


async def show_all(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace is not None
    assert actor.workspace_id is not None
    await state.clear()
    pairs = await list_connections(session=session, workspace_id=actor.workspace_id)
    if not pairs:
        say(message.answer(texts("connections.empty")))
        return
    lines = [
        texts(
            "connections.header",
            workspace_line=texts("common.workspace_line", name=actor.workspace.name),
        )
    ]
    builder = InlineKeyboardBuilder()
    for number, (connection, supplier) in enumerate(pairs, start=1):
        assert connection.id is not None
        lines.append(
            texts(
                "connections.line",
                number=number,
                supplier=supplier.name,
                login=connection.login,
                state=texts(f"connections.state_{connection.state}"),
                last=_when(connection.last_attempt_at, texts, "common.never"),
                next=_when(connection.next_fetch_at, texts, "common.not_planned"),
            )
        )
        key = explain(connection)
        if key:
            lines.append(f"   {texts(key)}")
        builder.button(
            text=texts("connections.pick", number=number, supplier=supplier.name),
            callback_data=ConnectionAction(do="show", id=connection.id),
        )
    builder.adjust(2)
    say(message.answer("\n".join(lines), reply_markup=builder.as_markup()))


async def act(
    query: CallbackQuery,
    callback_data: ConnectionAction,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    connection = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="connection",
        ident=callback_data.id,
        presser=actor.telegram_user_id,
    )
    if not isinstance(connection, Connection) or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    supplier = await session.get(Supplier, connection.supplier_id)
    assert supplier is not None
    assert connection.id is not None
    message, verb = query.message, callback_data.do
    mine = connection.owner_member_id
    if verb == "show":
        allowed = actor.may(Action.MANAGE_CONNECTIONS, resource_owner_id=mine)
        markup = actions(connection, texts) if allowed else None
        say(message.answer(detail(connection, supplier, texts), reply_markup=markup))
        return
    if actor.member is None or actor.workspace_id is None:
        callback_answer.text = texts("common.expired")
        return
    target = controls.Target(actor.member, actor.workspace_id, connection.id)
    connection_id = connection.id

    async def run_now_later(announce: bool = False) -> None:
        deps.runs.start(connection_id, announce=announce)

    try:
        if verb in ("fetch", "reconnect", "resume"):
            run = controls.resume if verb == "resume" else controls.run_now
            await run(session=session, target=target, interactive_for=INTERACTIVE_FOR)
            if connection.claimed_by is None:  # a run in flight already does it
                say.then(run_now_later)
            key = "connections.resumed" if verb == "resume" else "connections.fetch_requested"
            say(message.answer(texts(key, supplier=supplier.name)))
        elif verb == "pause":
            await controls.pause(session=session, target=target)
            say(message.answer(texts("connections.paused", supplier=supplier.name)))
        elif verb == "remove":
            # Asked only of who may remove it.
            await controls.controlled(session=session, target=target)
            builder = InlineKeyboardBuilder()
            builder.button(
                text=texts("connections.confirm_yes"),
                callback_data=ConnectionAction(do="rm", id=connection_id),
            )
            builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
            builder.adjust(1)
            say(
                message.answer(
                    texts("connections.confirm_remove", supplier=supplier.name),
                    reply_markup=builder.as_markup(),
                )
            )
        elif verb == "rm":
            await controls.remove(session=session, target=target)
            say(message.edit_text(texts("connections.removed", supplier=supplier.name)))
        elif verb == "update":
            await controls.controlled(session=session, target=target)
            await state.clear()
            await state.set_state(Credentials.login)
            await state.set_data(
                {"n": new_nonce(), "connection_id": connection_id, "supplier": supplier.name}
            )
            say(message.answer(texts("connections.ask_login", supplier=supplier.name)))
    except NotAllowed as err:
        callback_answer.text = refusal(err, texts)
    except IllegalTransition:  # pressed twice, or the state moved on
        callback_answer.text = texts("common.expired")


async def new_login(message: Message, state: FSMContext, texts: Texts, say: Replies) -> None:
    value = (message.text or "").strip()
    if not value or len(value) > 200:
        say(message.answer(texts("connect.empty_login")))
        return
    await state.update_data(login=value)
    await state.set_state(Credentials.password)
    supplier = str((await state.get_data())["supplier"])
    say(message.answer(texts("connections.ask_password", supplier=supplier)))


async def new_password(
    message: Message,
    bot: Bot,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    secret = await take_secret(message, bot, texts, say, PASSWORD)
    if secret is None:
        return
    data = await state.get_data()
    await state.clear()
    connection = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="connection",
        ident=int(data["connection_id"]),
        presser=actor.telegram_user_id,
    )
    if (
        not isinstance(connection, Connection)
        or connection.id is None
        or actor.member is None
        or actor.workspace_id is None
    ):
        say(message.answer(texts("common.expired")))
        return
    try:
        await controls.update_credentials(
            session=session,
            vault=deps.vault,
            target=controls.Target(actor.member, actor.workspace_id, connection.id),
            login=str(data["login"]),
            password=SecretStr(secret),
            interactive_for=INTERACTIVE_FOR,
        )
    except NotAllowed as err:
        say(message.answer(refusal(err, texts)))
        return
    connection_id = connection.id

    async def verify() -> None:
        deps.runs.start(connection_id, announce=True)

    say.then(verify)
    say(message.answer(texts("connections.updated", supplier=str(data["supplier"]))))


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="connections")
    router.message.register(show_all, Command("connections"), StateFilter("*"))
    router.callback_query.register(act, ConnectionAction.filter(), StateFilter("*"))
    router.message.register(new_login, Credentials.login, F.text)
    router.message.register(new_password, Credentials.password, F.text)
    return router
