"""`/integration`: the workspace's accounting software from the chat, for owners and admins.

With no link: choose the software (Beancount: a ledger picked from the workspace's folder
under the ledger root, created there, or sent as a `.beancount` file, never a path typed
in the chat; Xero and QuickBooks
give the authorisation address, and the OAuth callback brings the person back with
`/start integration_<id>`; Pennylane asks for the company token, whose message is deleted at
once). With one: its software, state, lists and waiting documents, and the buttons to
reconnect, reload every list or one, change software (then transfer the rules, seeing what
maps and what does not first) and disconnect (keeping the rules or not).

Every call to the software runs after the update's transaction commits (bot/accounting.py):
the accounting services open their own short transactions around each call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.accounting import after_commit, open_accounting
from bot.callbacks import Cancel, new_nonce
from bot.context import Actor, Deps, Replies
from bot.flow_callbacks import (
    NEW_LEDGER,
    IntegrationAction,
    LedgerPick,
    SoftwarePick,
    owned_integration,
)
from bot.i18n import Texts
from bot.rule_callbacks import RuleAction
from bot.secrets import TOKEN, take_secret
from bot.uploads import Upload
from core.accounting.ledger_folder import LedgerFolder
from core.db import Database
from core.models import Document, DocumentState, Integration, IntegrationState, ListKind, Rule
from core.permissions import Action
from core.services.authorisations import (
    change_software,
    connect,
    disconnect,
    reconnect,
    refresh_lists,
)
from core.services.integrations import current_integration, list_loads, waiting_documents
from core.services.rules import TransferReport, transfer_rules

#: The software, in the order people see them, with how each connects.
SOFTWARE: dict[str, str] = {
    "beancount": "Beancount",
    "xero": "Xero",
    "quickbooks": "QuickBooks Online",
    "pennylane": "Pennylane",
}
OAUTH = frozenset({"xero", "quickbooks"})
DEEP_LINK = "integration_"
#: Ledgers offered as buttons; more can still be named by typing their name.
LISTED_LEDGERS = 20


class Linking(StatesGroup):
    ledger = State()
    new_ledger = State()
    token = State()


def software_keyboard(texts: Texts, *, change: int = 0) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for name, label in SOFTWARE.items():
        builder.button(text=label, callback_data=SoftwarePick(name=name, change=change))
    builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
    builder.adjust(2)
    return builder.as_markup()


def actions(integration: Integration, texts: Texts) -> InlineKeyboardMarkup:
    assert integration.id is not None
    builder = InlineKeyboardBuilder()
    verbs = ("reconnect", "refresh", "lists", "change", "disconnect")
    for verb in verbs:
        builder.button(
            text=texts(f"integration.{verb}"),
            callback_data=IntegrationAction(do=verb, id=integration.id),
        )
    builder.button(text=texts("rules.button"), callback_data=RuleAction(do="list"))
    builder.adjust(1)
    return builder.as_markup()


async def status_text(session: AsyncSession, integration: Integration, texts: Texts) -> str:
    assert integration.id is not None
    loads = await list_loads(session=session, integration_id=integration.id)
    lines = [
        texts(
            "integration.status",
            software=SOFTWARE.get(integration.provider, integration.provider),
            company=integration.company_name or integration.company_id or "",
            state=texts(f"integration.state_{integration.state}"),
        )
    ]
    advice = f"integration.advice_{integration.state}"
    if texts.has(advice):
        lines.append(texts(advice))
    if integration.last_error:
        lines.append(texts("integration.last_error", error=integration.last_error))
    if loads:
        lines.append(texts("integration.lists_header"))
        lines += [
            texts(
                "integration.list_line",
                list=texts(f"integration.list_{load.kind}"),
                count=load.count,
                loaded=f"{load.loaded_at:%Y-%m-%d %H:%M} UTC",
            )
            for load in loads
        ]
    else:
        lines.append(texts("integration.no_lists"))
    held = await session.scalar(
        select(func.count())
        .select_from(Document)
        .where(
            Document.workspace_id == integration.workspace_id,
            col(Document.state).in_((DocumentState.BLOCKED, DocumentState.NEEDS_REVIEW)),
        )
    )
    lines.append(
        texts(
            "integration.waiting",
            waiting=await waiting_documents(session=session, integration_id=integration.id),
            held=int(held or 0),
        )
    )
    return "\n".join(lines)


async def show(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace_id is not None
    if not actor.may(Action.MANAGE_INTEGRATION):
        say(message.answer(texts("permissions.manage_integration")))
        return
    await state.clear()
    integration = await current_integration(session=session, workspace_id=actor.workspace_id)
    if integration is None:
        say(message.answer(texts("integration.none"), reply_markup=software_keyboard(texts)))
        return
    text = await status_text(session, integration, texts)
    say(message.answer(text, reply_markup=actions(integration, texts)))


async def came_back(
    message: Message,
    command: CommandObject,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
) -> None:
    """The OAuth callback sent the person back here once the software said yes."""
    ident = (command.args or "").removeprefix(DEEP_LINK)
    if actor.member is not None and not actor.may(Action.MANAGE_INTEGRATION):
        say(message.answer(texts("permissions.manage_integration")))
        return
    integration = None
    if ident.isdigit():
        integration = await owned_integration(
            session=session,
            workspace_id=actor.workspace_id,
            ident=int(ident),
            presser=actor.telegram_user_id,
        )
    if integration is None:
        say(message.answer(texts("common.expired")))
        return
    await state.clear()
    lines = [
        texts(
            "integration.connected",
            software=SOFTWARE.get(integration.provider, integration.provider),
        ),
        await status_text(session, integration, texts),
    ]
    say(message.answer("\n\n".join(lines), reply_markup=actions(integration, texts)))
    previous = await _previous(session, integration)
    if previous is not None and await _has_rules(session, integration.workspace_id):
        assert integration.id is not None
        say(
            message.answer(
                texts(
                    "integration.transfer_offer",
                    old=SOFTWARE.get(previous.provider, previous.provider),
                ),
                reply_markup=_transfer_keyboard(integration.id, texts),
            )
        )


async def pick_software(
    query: CallbackQuery,
    callback_data: SoftwarePick,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace_id is not None
    if not actor.may(Action.MANAGE_INTEGRATION):
        callback_answer.text = texts("permissions.manage_integration")
        return
    current = await current_integration(session=session, workspace_id=actor.workspace_id)
    # A first link needs none live; a change names the live one it replaces.
    fresh = callback_data.change == 0 and current is None
    replacing = current is not None and current.id == callback_data.change
    if (
        callback_data.name not in SOFTWARE
        or not (fresh or replacing)
        or not isinstance(query.message, Message)
    ):
        callback_answer.text = texts("common.expired")
        return
    name = callback_data.name
    purpose = "change" if replacing else "connect"
    say(query.message.edit_text(texts("integration.chosen", software=SOFTWARE[name])))
    if name in OAUTH:
        say.then(_linking(deps, bot, query.message.chat.id, texts, actor, name, purpose, None))
        return
    await state.clear()
    nonce = new_nonce()
    if name != "beancount":
        await state.set_state(Linking.token)
        await state.set_data({"n": nonce, "provider": name, "purpose": purpose})
        say(query.message.answer(texts("integration.ask_token")))
        return
    names = (await (await _folder(actor, deps)).names())[:LISTED_LEDGERS]
    await state.set_state(Linking.ledger)
    await state.set_data({"n": nonce, "provider": name, "purpose": purpose, "ledgers": names})
    say(
        query.message.answer(
            texts("integration.ask_ledger"), reply_markup=_ledger_keyboard(names, nonce, texts)
        )
    )


async def _folder(actor: Actor, deps: Deps) -> LedgerFolder:
    """The workspace's folder under the ledger root (made on first use)."""
    assert actor.workspace is not None
    return await LedgerFolder.open(root=deps.settings.ledgers_dir, slug=actor.workspace.slug)


def _ledger_keyboard(names: list[str], nonce: str, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for index, name in enumerate(names):
        builder.button(text=name, callback_data=LedgerPick(n=nonce, i=index))
    builder.button(
        text=texts("integration.new_ledger"), callback_data=LedgerPick(n=nonce, i=NEW_LEDGER)
    )
    builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
    builder.adjust(1)
    return builder.as_markup()


async def pick_ledger(
    query: CallbackQuery,
    callback_data: LedgerPick,
    actor: Actor,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    data = await state.get_data()
    names = list(data.get("ledgers") or [])
    current = await state.get_state()
    if (
        current != Linking.ledger.state
        or data.get("n") != callback_data.n
        or not (callback_data.i == NEW_LEDGER or 0 <= callback_data.i < len(names))
        or not isinstance(query.message, Message)
    ):
        callback_answer.text = texts("common.expired")
        return
    if callback_data.i == NEW_LEDGER:
        await state.set_state(Linking.new_ledger)
        say(query.message.answer(texts("integration.ask_ledger_name")))
        return
    folder = await _folder(actor, deps)
    path = await folder.locate(names[callback_data.i])
    await _link_ledger(query.message, path, actor, state, bot, deps, texts, say)


async def ledger_named(
    message: Message,
    actor: Actor,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    """A ledger named by typing: looked for in the workspace's folder, and only there."""
    folder = await _folder(actor, deps)
    path = await folder.locate((message.text or "")[:200])
    await _link_ledger(message, path, actor, state, bot, deps, texts, say)


async def new_ledger(
    message: Message,
    actor: Actor,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace is not None
    folder = await _folder(actor, deps)
    path = await folder.create((message.text or "")[:200], title=actor.workspace.name)
    await _link_ledger(message, path, actor, state, bot, deps, texts, say)


async def ledger_sent(
    message: Message,
    actor: Actor,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    texts: Texts,
    say: Replies,
    upload: Upload | None = None,
) -> None:
    """A `.beancount` file sent while a ledger is asked for: kept in the folder, linked."""
    if upload is None or upload.refused == "unreachable":
        say(message.answer(texts("common.internal_error")))
        return
    if upload.refused == "too_big":
        say(message.answer(texts("integration.ledger_too_big")))
        return
    folder = await _folder(actor, deps)
    path = await folder.receive(upload.filename, upload.content)
    await _link_ledger(message, path, actor, state, bot, deps, texts, say)


async def _link_ledger(
    message: Message,
    path: Path,
    actor: Actor,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    data = await state.get_data()
    await state.clear()
    say(message.answer(texts("integration.checking")))
    provider, purpose = str(data["provider"]), str(data["purpose"])
    secret = str(path)  # resolved inside the workspace's folder
    say.then(_linking(deps, bot, message.chat.id, texts, actor, provider, purpose, secret))


async def token(
    message: Message,
    actor: Actor,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    texts: Texts,
    say: Replies,
) -> None:
    taken = await take_secret(message, bot, texts, say, TOKEN)
    if taken is None:
        return
    secret = taken.strip()
    data = await state.get_data()
    await state.clear()
    provider, purpose = str(data["provider"]), str(data["purpose"])
    # The token lives only in this closure: never in the conversation's stored data.
    say.then(_linking(deps, bot, message.chat.id, texts, actor, provider, purpose, secret))


def _linking(
    deps: Deps,
    bot: Bot,
    chat_id: int,
    texts: Texts,
    actor: Actor,
    provider: str,
    purpose: str,
    secret: str | None,
) -> Callable[[], Awaitable[None]]:
    assert actor.workspace_id is not None
    member_id = actor.member.id if actor.member is not None else None
    workspace_id = actor.workspace_id

    async def work() -> None:
        async with open_accounting(deps) as acc:
            if purpose == "connect":
                result = await connect(
                    acc,
                    workspace_id=workspace_id,
                    actor=member_id,
                    provider_name=provider,
                    secret=secret,
                )
            elif purpose == "change":
                result = await change_software(
                    acc,
                    workspace_id=workspace_id,
                    actor=member_id,
                    provider_name=provider,
                    secret=secret,
                )
            else:
                result = await reconnect(
                    acc, workspace_id=workspace_id, actor=member_id, secret=secret
                )
            if result.authorization_url is not None:
                button = InlineKeyboardButton(
                    text=texts("integration.open_link", software=SOFTWARE[provider]),
                    url=result.authorization_url,
                )
                await bot.send_message(
                    chat_id,
                    texts("integration.authorise", software=SOFTWARE[provider]),
                    reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
                )
                return
            async with acc.db.read() as session:
                integration = await current_integration(session=session, workspace_id=workspace_id)
                assert integration is not None
                assert integration.id is not None
                text = await status_text(session, integration, texts)
            key = "integration.reconnected" if purpose == "reconnect" else "integration.connected"
            await bot.send_message(
                chat_id,
                f"{texts(key, software=SOFTWARE[provider])}\n\n{text}",
                reply_markup=actions(integration, texts),
            )
            if purpose == "change":
                await _preview_transfer(acc.db, bot, chat_id, texts, workspace_id, integration.id)

    return after_commit(bot=bot, chat_id=chat_id, texts=texts, work=work)


class _Preview(Exception):
    """Rolls a transfer back once its report is read: it is only shown, not applied."""

    def __init__(self, report: TransferReport) -> None:
        self.report = report


async def _preview_transfer(
    db: Database, bot: Bot, chat_id: int, texts: Texts, workspace_id: int, integration_id: int
) -> None:
    try:
        async with db.transaction() as session:
            if not await _has_rules(session, workspace_id):
                return
            raise _Preview(
                await transfer_rules(session=session, workspace_id=workspace_id, actor=None)
            )
    except _Preview as preview:
        report = preview.report
    await bot.send_message(
        chat_id,
        _transfer_text(report, texts, applied=False),
        reply_markup=_transfer_keyboard(integration_id, texts),
    )


def _transfer_text(report: TransferReport, texts: Texts, *, applied: bool) -> str:
    key = "integration.transfer_done" if applied else "integration.transfer_preview"
    lines = [texts(key, mapped=report.mapped, rules=report.rules)]
    if report.unmapped:
        lines.append(texts("integration.transfer_unmapped_header"))
        lines += [
            texts(
                "integration.transfer_unmapped_line",
                supplier=u.party_name,
                field=texts(f"integration.field_{u.field}"),
                name=u.name,
                code=u.code,
            )
            for u in report.unmapped
        ]
    return "\n".join(lines)


def _transfer_keyboard(integration_id: int, texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts("integration.transfer_apply"),
        callback_data=IntegrationAction(do="transfer", id=integration_id),
    )
    builder.button(
        text=texts("integration.transfer_leave"),
        callback_data=IntegrationAction(do="leave", id=integration_id),
    )
    builder.adjust(1)
    return builder.as_markup()


async def _previous(session: AsyncSession, integration: Integration) -> Integration | None:
    query = (
        select(Integration)
        .where(
            Integration.workspace_id == integration.workspace_id,
            Integration.state == IntegrationState.DISCONNECTED,
            Integration.id != integration.id,
        )
        .order_by(col(Integration.state_changed_at).desc())
    )
    return (await session.exec(query)).first()


async def _has_rules(session: AsyncSession, workspace_id: int) -> bool:
    found = await session.scalar(
        select(func.count()).select_from(Rule).where(Rule.workspace_id == workspace_id)
    )
    return bool(found)


async def act(
    query: CallbackQuery,
    callback_data: IntegrationAction,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    integration = await owned_integration(
        session=session,
        workspace_id=actor.workspace_id,
        ident=callback_data.id,
        presser=actor.telegram_user_id,
    )
    if integration is None or not isinstance(query.message, Message):
        callback_answer.text = texts("common.expired")
        return
    if not actor.may(Action.MANAGE_INTEGRATION):
        callback_answer.text = texts("permissions.manage_integration")
        return
    assert integration.id is not None
    assert actor.workspace_id is not None
    message, verb, chat_id = query.message, callback_data.do, query.message.chat.id
    software = SOFTWARE.get(integration.provider, integration.provider)
    member_id = actor.member.id if actor.member is not None else None
    workspace_id = actor.workspace_id
    if verb == "reconnect":
        await state.clear()
        if integration.provider == "pennylane":
            await state.set_state(Linking.token)
            await state.set_data(
                {"n": new_nonce(), "provider": integration.provider, "purpose": "reconnect"}
            )
            say(message.answer(texts("integration.ask_token")))
            return
        say(message.answer(texts("integration.reconnecting", software=software)))
        say.then(
            _linking(deps, bot, chat_id, texts, actor, integration.provider, "reconnect", None)
        )
    elif verb in ("refresh", "reload"):
        kind: ListKind | None = None
        if verb == "reload":
            if callback_data.arg not in {k.value for k in ListKind}:
                callback_answer.text = texts("common.expired")
                return
            kind = ListKind(callback_data.arg)
        say(message.answer(texts("integration.refreshing")))

        async def refresh() -> None:
            async with open_accounting(deps) as acc:
                done = await refresh_lists(
                    acc, workspace_id=workspace_id, actor=member_id, kind=kind
                )
            lines = [texts("integration.refreshed")]
            lines += [
                texts("integration.refreshed_line", list=texts(f"integration.list_{k}"), count=n)
                for k, n in sorted(done.counts.items())
            ]
            lines += [texts("integration.flagged", supplier=name) for name in done.flagged_rules]
            await bot.send_message(chat_id, "\n".join(lines))

        say.then(after_commit(bot=bot, chat_id=chat_id, texts=texts, work=refresh))
    elif verb == "lists":
        builder = InlineKeyboardBuilder()
        for each in ListKind:
            builder.button(
                text=texts(f"integration.list_{each.value}"),
                callback_data=IntegrationAction(do="reload", id=integration.id, arg=each.value),
            )
        builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
        builder.adjust(2)
        say(message.answer(texts("integration.which_list"), reply_markup=builder.as_markup()))
    elif verb == "change":
        await state.clear()
        say(
            message.answer(
                texts("integration.change_to", software=software),
                reply_markup=software_keyboard(texts, change=integration.id),
            )
        )
    elif verb == "disconnect":
        builder = InlineKeyboardBuilder()
        for arg in ("keep", "drop"):
            builder.button(
                text=texts(f"integration.disconnect_{arg}"),
                callback_data=IntegrationAction(do="off", id=integration.id, arg=arg),
            )
        builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
        builder.adjust(1)
        say(
            message.answer(
                texts("integration.confirm_disconnect", software=software),
                reply_markup=builder.as_markup(),
            )
        )
    elif verb == "off":
        if callback_data.arg not in ("keep", "drop"):
            callback_answer.text = texts("common.expired")
            return
        keep = callback_data.arg == "keep"
        say(message.edit_text(texts("integration.disconnecting", software=software)))

        async def off() -> None:
            async with open_accounting(deps) as acc:
                dropped = await disconnect(
                    acc, workspace_id=workspace_id, actor=member_id, keep_rules=keep
                )
            if keep:
                text = texts("integration.disconnected_kept", software=software)
            else:
                text = texts("integration.disconnected_dropped", software=software, count=dropped)
            await bot.send_message(chat_id, text)

        say.then(after_commit(bot=bot, chat_id=chat_id, texts=texts, work=off))
    elif verb == "transfer":
        report = await transfer_rules(session=session, workspace_id=workspace_id, actor=member_id)
        say(message.edit_text(_transfer_text(report, texts, applied=True)))
    else:  # leave
        say(message.edit_text(texts("integration.transfer_left")))


def build_deep_link() -> Router:
    """`/start integration_<id>`: before start's own deep link, which reads invite codes."""
    router = Router(name="integration_deep_link")
    router.message.register(
        came_back,
        CommandStart(deep_link=True, magic=F.args.startswith(DEEP_LINK)),
        StateFilter("*"),
    )
    return router


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="integration")
    router.message.register(show, Command("integration"), StateFilter("*"))
    router.callback_query.register(pick_software, SoftwarePick.filter(), StateFilter("*"))
    router.callback_query.register(act, IntegrationAction.filter(), StateFilter("*"))
    router.callback_query.register(pick_ledger, LedgerPick.filter(), StateFilter("*"))
    router.message.register(ledger_named, Linking.ledger, F.text)
    router.message.register(new_ledger, Linking.new_ledger, F.text)
    router.message.register(token, Linking.token, F.text)
    return router


def build_ledger_upload() -> Router:
    """A `.beancount` file sent while a ledger is asked for: before the inbox's uploads."""
    router = Router(name="integration_ledger_upload")
    router.message.register(
        ledger_sent, StateFilter(Linking.ledger, Linking.new_ledger), F.document
    )
    return router
