"""`/rules`: the workspace's supplier rules from the chat, for owners and admins.

The list shows each supplier's account, tax rate and auto-publish, and why a flagged rule
cannot be applied. An edit (of a listed rule, or a new one for a typed or suggested
supplier) picks the account from the integration's loaded accounts (typed part of a code
or name), the tax rate from the loaded tax rates, and switches auto-publish; saving goes
through core's `set_rule`, which lets the supplier's held documents go; the supplier's
ready documents are then sent once the update has committed when the rule auto-publishes,
and what that did is told (written, refused with the software's reason and Retry); a rule
that publishes "when you ask" gets a Publish button instead.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.accounting import after_commit, open_accounting
from bot.callbacks import Cancel, new_nonce
from bot.context import Actor, Deps, Replies
from bot.i18n import Texts
from bot.outcomes import publish_button
from bot.refusals import refusal
from bot.rule_callbacks import RuleAction
from core.catalog.index import fold
from core.errors import CourierError, NotAllowed
from core.models import Document, ListEntry, ListKind, Rule
from core.permissions import Action
from core.services.integrations import current_integration
from core.services.publish_reports import publish_and_report
from core.services.publishing import ready_documents
from core.services.rules import delete_rule, list_rules, save_rule

log = logging.getLogger(__name__)
#: Rules per page of the list, and matches or suggestions offered as buttons.
PAGE = 5
CHOICES = 8


class RuleEdit(StatesGroup):
    supplier = State()
    draft = State()
    account = State()


async def _names(session: AsyncSession, workspace_id: int, kind: ListKind) -> dict[str, str]:
    """The live integration's list of `kind`, code to name ({} with no link)."""
    integration = await current_integration(session=session, workspace_id=workspace_id)
    if integration is None:
        return {}
    entries = await session.exec(
        select(ListEntry).where(ListEntry.integration_id == integration.id, ListEntry.kind == kind)
    )
    return {e.code: e.name for e in entries}


def _named(code: str | None, names: dict[str, str], texts: Texts) -> str:
    if not code:
        return texts("rules.none")
    name = names.get(code)
    return f"{name} ({code})" if name and name != code else code


async def _rule_lines(
    session: AsyncSession, workspace_id: int, rules: list[Rule], texts: Texts
) -> list[str]:
    accounts = await _names(session, workspace_id, ListKind.ACCOUNTS)
    rates = await _names(session, workspace_id, ListKind.TAX_RATES)
    lines: list[str] = []
    for rule in rules:
        lines.append(
            texts(
                "rules.line",
                supplier=rule.party_name,
                account=_named(rule.account_code, accounts, texts),
                tax_rate=_named(rule.tax_rate_code, rates, texts),
                auto=texts("rules.auto_on" if rule.auto_publish else "rules.auto_off"),
            )
        )
        if rule.flagged:
            key = f"rules.flag_{rule.flagged}"
            lines.append(texts(key) if texts.has(key) else texts("rules.flag_other"))
    return lines


async def _listing(
    session: AsyncSession, workspace_id: int, page: int, texts: Texts
) -> tuple[str, InlineKeyboardMarkup]:
    rules = await list_rules(session=session, workspace_id=workspace_id)
    pages = max(1, -(-len(rules) // PAGE))
    page = min(max(page, 0), pages - 1)
    shown = rules[page * PAGE : (page + 1) * PAGE]
    builder = InlineKeyboardBuilder()
    if not rules:
        text = texts("rules.empty")
    else:
        header = texts("rules.header", count=len(rules))
        if pages > 1:
            header += " " + texts("rules.page", page=page + 1, pages=pages)
        text = "\n".join([header, *await _rule_lines(session, workspace_id, shown, texts)])
    for rule in shown:
        assert rule.id is not None
        builder.button(
            text=texts("rules.edit_button", supplier=rule.party_name),
            callback_data=RuleAction(do="edit", id=rule.id),
        )
    sizes = [1] * len(shown)
    turns = 0
    if page > 0:
        builder.button(
            text=texts("rules.previous"), callback_data=RuleAction(do="page", id=page - 1)
        )
        turns += 1
    if page < pages - 1:
        builder.button(text=texts("rules.next"), callback_data=RuleAction(do="page", id=page + 1))
        turns += 1
    builder.button(text=texts("rules.add"), callback_data=RuleAction(do="new"))
    if any(not rule.auto_publish for rule in rules):
        # Their documents go "when you ask": the way to ask.
        builder.add(publish_button(texts))
    builder.adjust(*sizes, *([turns] if turns else []), 1)
    return text, builder.as_markup()


async def show(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace_id is not None
    if not actor.may(Action.MANAGE_RULES):
        say(message.answer(texts("permissions.manage_rules")))
        return
    await state.clear()
    text, keyboard = await _listing(session, actor.workspace_id, 0, texts)
    say(message.answer(text, reply_markup=keyboard))


async def _owned_rule(session: AsyncSession, actor: Actor, ident: int) -> Rule | None:
    rule = await session.get(Rule, ident) if ident else None
    if rule is None or rule.workspace_id != actor.workspace_id:
        log.warning(
            "refused a button press: rule %s is not in workspace %s (telegram user %s)",
            ident,
            actor.workspace_id,
            actor.telegram_user_id,
        )
        return None
    return rule


async def _owned_entry(
    session: AsyncSession, actor: Actor, ident: int, kind: ListKind
) -> ListEntry | None:
    """A list entry a button names, if it is in the presser's workspace's live link."""
    assert actor.workspace_id is not None
    integration = await current_integration(session=session, workspace_id=actor.workspace_id)
    entry = await session.get(ListEntry, ident)
    if (
        integration is None
        or entry is None
        or entry.integration_id != integration.id
        or entry.kind != kind
    ):
        log.warning(
            "refused a button press: list entry %s is not in workspace %s (telegram user %s)",
            ident,
            actor.workspace_id,
            actor.telegram_user_id,
        )
        return None
    return entry


async def _suggestions(session: AsyncSession, workspace_id: int) -> list[Document]:
    """One document per known supplier of the workspace's documents that has no rule yet."""
    ruled = {r.party_key for r in await list_rules(session=session, workspace_id=workspace_id)}
    documents = await session.exec(
        select(Document)
        .where(Document.workspace_id == workspace_id, col(Document.supplier_name).is_not(None))
        .order_by(col(Document.id).desc())
    )
    seen: dict[str, Document] = {}
    for document in documents:
        key = fold(document.supplier_name or "")
        if key and key not in ruled and key not in seen:
            seen[key] = document
    return sorted(seen.values(), key=lambda d: fold(d.supplier_name or ""))[:CHOICES]


def _draft_of(rule: Rule | None, party: str, nonce: str) -> dict[str, Any]:
    return {
        "n": nonce,
        "party": rule.party_name if rule else party,
        "rule": rule.id if rule else 0,
        "account": rule.account_code if rule else None,
        "tax": rule.tax_rate_code if rule else None,
        "auto": bool(rule.auto_publish) if rule else False,
        "flag": rule.flagged if rule else None,
    }


async def _draft_view(
    session: AsyncSession, workspace_id: int, data: dict[str, Any], texts: Texts
) -> tuple[str, InlineKeyboardMarkup]:
    accounts = await _names(session, workspace_id, ListKind.ACCOUNTS)
    rates = await _names(session, workspace_id, ListKind.TAX_RATES)
    auto = bool(data["auto"])
    text = texts(
        "rules.draft",
        supplier=data["party"],
        account=_named(data["account"], accounts, texts),
        tax_rate=_named(data["tax"], rates, texts),
        auto=texts("rules.auto_on" if auto else "rules.auto_off"),
    )
    if data.get("flag"):
        key = f"rules.flag_{data['flag']}"
        text += "\n" + (texts(key) if texts.has(key) else texts("rules.flag_other"))
    nonce = str(data["n"])
    builder = InlineKeyboardBuilder()
    builder.button(text=texts("rules.choose_account"), callback_data=RuleAction(do="acct", n=nonce))
    builder.button(text=texts("rules.choose_tax"), callback_data=RuleAction(do="tax", n=nonce))
    builder.button(
        text=texts("rules.auto_switch_off" if auto else "rules.auto_switch_on"),
        callback_data=RuleAction(do="auto", n=nonce),
    )
    builder.button(text=texts("rules.save"), callback_data=RuleAction(do="save", n=nonce))
    if data["rule"]:
        builder.button(
            text=texts("rules.delete"), callback_data=RuleAction(do="del", id=int(data["rule"]))
        )
    builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
    builder.adjust(1)
    return text, builder.as_markup()


async def _start_draft(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
    *,
    rule: Rule | None,
    party: str,
) -> None:
    assert actor.workspace_id is not None
    data = _draft_of(rule, party, new_nonce())
    await state.clear()
    await state.set_state(RuleEdit.draft)
    await state.set_data(data)
    text, keyboard = await _draft_view(session, actor.workspace_id, data, texts)
    say(message.answer(text, reply_markup=keyboard))


async def supplier_typed(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace_id is not None
    party = " ".join((message.text or "").split())
    if not party or len(party) > 160 or party.startswith("/"):
        say(message.answer(texts("rules.bad_supplier")))
        return
    key = fold(party)
    rule = next(
        (
            r
            for r in await list_rules(session=session, workspace_id=actor.workspace_id)
            if r.party_key == key
        ),
        None,
    )
    await _start_draft(message, actor, session, state, texts, say, rule=rule, party=party)


async def account_typed(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace_id is not None
    wanted = fold(message.text or "")
    data = await state.get_data()
    integration = await current_integration(session=session, workspace_id=actor.workspace_id)
    entries = (
        []
        if integration is None or not wanted
        else (
            await session.exec(
                select(ListEntry)
                .where(
                    ListEntry.integration_id == integration.id, ListEntry.kind == ListKind.ACCOUNTS
                )
                .order_by(col(ListEntry.code))
            )
        ).all()
    )
    found = [e for e in entries if wanted in fold(e.code) or wanted in fold(e.name)]
    if not found:
        say(message.answer(texts("rules.no_account", query=(message.text or "").strip())))
        return
    builder = InlineKeyboardBuilder()
    for entry in found[:CHOICES]:
        assert entry.id is not None
        builder.button(
            text=_named(entry.code, {entry.code: entry.name}, texts),
            callback_data=RuleAction(do="setacct", id=entry.id, n=str(data.get("n", ""))),
        )
    builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
    builder.adjust(1)
    key = "rules.accounts_more" if len(found) > CHOICES else "rules.accounts"
    say(message.answer(texts(key, count=len(found)), reply_markup=builder.as_markup()))


async def act(
    query: CallbackQuery,
    callback_data: RuleAction,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    bot: Bot,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    if not isinstance(query.message, Message) or actor.workspace_id is None:
        callback_answer.text = texts("common.expired")
        return
    if not actor.may(Action.MANAGE_RULES):
        callback_answer.text = texts("permissions.manage_rules")
        return
    message, verb, workspace_id = query.message, callback_data.do, actor.workspace_id
    if verb in ("list", "page"):
        text, keyboard = await _listing(session, workspace_id, callback_data.id, texts)
        if verb == "list":
            await state.clear()
            say(message.answer(text, reply_markup=keyboard))
        else:
            say(message.edit_text(text, reply_markup=keyboard))
        return
    if verb == "new":
        await state.clear()
        nonce = new_nonce()
        await state.set_state(RuleEdit.supplier)
        await state.set_data({"n": nonce})
        builder = InlineKeyboardBuilder()
        for document in await _suggestions(session, workspace_id):
            assert document.id is not None
            builder.button(
                text=document.supplier_name or "",
                callback_data=RuleAction(do="sugg", id=document.id, n=nonce),
            )
        builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
        builder.adjust(1)
        say(message.answer(texts("rules.ask_supplier"), reply_markup=builder.as_markup()))
        return
    if verb in ("edit", "del", "rm"):
        rule = await _owned_rule(session, actor, callback_data.id)
        if rule is None:
            callback_answer.text = texts("common.expired")
            return
        if verb == "edit":
            await _start_draft(message, actor, session, state, texts, say, rule=rule, party="")
        elif verb == "del":
            builder = InlineKeyboardBuilder()
            builder.button(
                text=texts("rules.delete_confirm"),
                callback_data=RuleAction(do="rm", id=callback_data.id),
            )
            builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
            builder.adjust(1)
            say(
                message.answer(
                    texts("rules.confirm_delete", supplier=rule.party_name),
                    reply_markup=builder.as_markup(),
                )
            )
        else:
            await state.clear()
            assert actor.member is not None
            assert rule.id is not None
            try:
                await delete_rule(
                    session=session, by=actor.member, workspace_id=workspace_id, rule_id=rule.id
                )
            except NotAllowed as err:
                callback_answer.text = refusal(err, texts)
                return
            say(message.edit_text(texts("rules.deleted", supplier=rule.party_name)))
        return
    # The steps of an edit: only the edit that made the button may use it.
    data = await state.get_data()
    if not callback_data.n or data.get("n") != callback_data.n:
        callback_answer.text = texts("common.expired")
        return
    if verb == "sugg":
        suggested = await session.get(Document, callback_data.id)
        if (
            suggested is None
            or suggested.workspace_id != workspace_id
            or not suggested.supplier_name
        ):
            log.warning(
                "refused a button press: document %s is not in workspace %s",
                callback_data.id,
                workspace_id,
            )
            callback_answer.text = texts("common.expired")
            return
        key = fold(suggested.supplier_name)
        rule = next(
            (
                r
                for r in await list_rules(session=session, workspace_id=workspace_id)
                if r.party_key == key
            ),
            None,
        )
        await _start_draft(
            message, actor, session, state, texts, say, rule=rule, party=suggested.supplier_name
        )
        return
    if "party" not in data:
        callback_answer.text = texts("common.expired")
        return
    if verb == "acct":
        if not await _names(session, workspace_id, ListKind.ACCOUNTS):
            say(message.answer(texts("rules.no_lists")))
            return
        await state.set_state(RuleEdit.account)
        say(message.answer(texts("rules.ask_account")))
        return
    if verb == "tax":
        integration = await current_integration(session=session, workspace_id=workspace_id)
        rates = (
            []
            if integration is None
            else (
                await session.exec(
                    select(ListEntry)
                    .where(
                        ListEntry.integration_id == integration.id,
                        ListEntry.kind == ListKind.TAX_RATES,
                    )
                    .order_by(col(ListEntry.code))
                )
            ).all()
        )
        if not rates:
            say(message.answer(texts("rules.no_lists")))
            return
        builder = InlineKeyboardBuilder()
        for entry in rates[: CHOICES * 2]:
            assert entry.id is not None
            builder.button(
                text=_named(entry.code, {entry.code: entry.name}, texts),
                callback_data=RuleAction(do="settax", id=entry.id, n=callback_data.n),
            )
        builder.button(
            text=texts("rules.no_tax"),
            callback_data=RuleAction(do="settax", id=0, n=callback_data.n),
        )
        builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
        builder.adjust(1)
        say(message.answer(texts("rules.ask_tax"), reply_markup=builder.as_markup()))
        return
    if verb in ("setacct", "settax"):
        kind = ListKind.ACCOUNTS if verb == "setacct" else ListKind.TAX_RATES
        code: str | None = None
        if callback_data.id or verb == "setacct":
            picked = await _owned_entry(session, actor, callback_data.id, kind)
            if picked is None:
                callback_answer.text = texts("common.expired")
                return
            code = picked.code
        data["account" if verb == "setacct" else "tax"] = code
        await state.set_state(RuleEdit.draft)
        await state.set_data(data)
        text, keyboard = await _draft_view(session, workspace_id, data, texts)
        say(message.answer(text, reply_markup=keyboard))
        return
    if verb == "auto":
        data["auto"] = not bool(data["auto"])
        await state.set_data(data)
        text, keyboard = await _draft_view(session, workspace_id, data, texts)
        say(message.edit_text(text, reply_markup=keyboard))
        return
    # save
    if not data.get("account"):
        callback_answer.text = texts("rules.account_first")
        return
    assert actor.member is not None
    try:
        rule = await save_rule(
            session=session,
            by=actor.member,
            workspace_id=workspace_id,
            party_name=str(data["party"]),
            account_code=str(data["account"]),
            tax_rate_code=str(data["tax"]) if data.get("tax") else None,
            auto_publish=bool(data["auto"]),
        )
    except NotAllowed as err:
        say(message.answer(refusal(err, texts)))
        return
    except CourierError as err:
        say(message.answer(texts.error(err)))
        return
    await state.clear()
    # set_rule let the supplier's documents held for want of a rule back in the inbox:
    # with those already waiting there, they are what this rule now sends.
    ready = await ready_documents(
        session=session, workspace_id=workspace_id, party_key=rule.party_key
    )
    saved = texts("rules.saved", supplier=rule.party_name)
    if not ready:
        say(message.edit_text(saved))
        return
    if not rule.auto_publish:
        # "Published when you ask": the button to ask, with how many wait.
        waiting = texts("outcomes.rule_ready", supplier=rule.party_name, count=len(ready))
        markup = InlineKeyboardMarkup(inline_keyboard=[[publish_button(texts)]])
        say(message.edit_text(f"{saved}\n{waiting}", reply_markup=markup))
        return
    say(message.edit_text(saved))
    ids = [d.id for d in ready if d.id is not None]
    member_id, supplier = actor.member.id, rule.party_name

    async def send() -> None:
        # What auto-publish did is told, bill by bill (core/services/publish_reports.py).
        async with open_accounting(deps) as acc:
            await publish_and_report(
                acc,
                workspace_id=workspace_id,
                document_ids=ids,
                recipient_member_id=member_id,
                occasion="rule",
                supplier=supplier,
            )

    say.then(after_commit(bot=bot, chat_id=message.chat.id, texts=texts, work=send))


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="rules")
    router.message.register(show, Command("rules"), StateFilter("*"))
    router.callback_query.register(act, RuleAction.filter(), StateFilter("*"))
    router.message.register(supplier_typed, RuleEdit.supplier, F.text)
    router.message.register(account_typed, RuleEdit.account, F.text)
    return router
