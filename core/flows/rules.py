"""Supplier rules (`/rules`), for those who may manage them: one method per step.

    /rules → "list": the rules, five a page, one line each (account, tax rate,
             auto-publish) and why a flagged one is not applied
             → [Edit EDF]… [◀ Previous] [Next ▶] [Add a rule] [Publish]
             (a supplier's name typed here opens its rule, or a new one)
           → "supplier" (Add a rule): type a name, or press a supplier of the documents
           → "draft": the rule being edited → [Choose the account] [Choose the tax rate]
             [Publish automatically] [Save] [Delete this rule] [Cancel]
               → "account": type part of a code or name; one match is taken at once,
                 several are offered as buttons
               → "tax": press a rate (or "No tax rate"), or type part of one
               → "delete": confirm
           → saved: `done` when nothing waits; an auto-publish rule sends its supplier's
             ready documents once the step committed, and the report says what the books
             wrote and refused (core/services/publish_reports.py); a rule that publishes
             "when you ask" offers Publish ("saved_ready"), which is the publish flow's own
             "ready" step, run here.

Buttons carry ids only: a rule's id (checked to be on the page shown), or an index into
what the step offered (kept in `self.data`), never a code or a name the person could
forge. Codes are checked against the live integration's loaded lists when saved
(`save_rule`); a code gone meanwhile is an error on the draft, never a stuck step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from core.accounting.errors import RuleCodeUnknown
from core.flows.accounting import accounting
from core.flows.flow import Field, Flow, Input
from core.flows.publish import Publish
from core.flows.steps import Choice, Form, Option, Step, Text, with_error
from core.models import ListKind, Rule
from core.permissions import Action
from core.services.publish_reports import publish_and_report
from core.services.publishing import ready_documents
from core.services.rules import (
    Entry,
    delete_rule,
    list_entries,
    list_rules,
    matching,
    rule_of,
    save_rule,
    suppliers_without_rule,
    workspace_rule,
)

#: Rules per page of the list; suggested suppliers and matching accounts offered as
#: buttons; tax rates offered as buttons.
PAGE = 5
CHOICES = 8
RATES = 16
#: The longest supplier name a rule takes.
LONGEST_NAME = 160
#: Why a rule is not applied, as the flow words it (`flows.rules.flag.<flag>`); any
#: other flag is worded `flag.other`.
FLAGS = frozenset({"account_deleted", "tax_rate_deleted", "transfer_unmapped"})


class Rules(Flow):
    name = "rules"
    first = "start"
    requires: ClassVar[Action | None] = Action.MANAGE_RULES

    # -- the list -------------------------------------------------------------------------

    async def step_start(self, user_input: Input | None = None) -> Step:
        return await self.step_list()

    async def step_list(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return await self._listing()
        option = user_input.get("option")
        if option in ("previous", "next"):
            self.data["page"] = int(self.data.get("page", 0)) + (1 if option == "next" else -1)
            return await self._listing()
        if option == "add":
            return await self.step_supplier()
        if option == "publish":
            return await self.step_ready()
        ident = _index(option, "r")
        if ident is not None and ident in self.data.get("shown", []):
            rule = await workspace_rule(
                session=self.context.session, workspace_id=self.context.workspace_id, rule_id=ident
            )
            return await self._open(rule, rule.party_name)
        typed = str(user_input.get("text") or "")
        if typed.strip():  # a supplier's name: its rule, or a new one
            return await self._named(typed, again=self._listing)
        return with_error(await self._listing(), self.error("choose"))

    async def _listing(self) -> Choice:
        session, workspace_id = self.context.session, self.context.workspace_id
        rules = await list_rules(session=session, workspace_id=workspace_id)
        pages = max(1, -(-len(rules) // PAGE))
        page = min(max(int(self.data.get("page", 0)), 0), pages - 1)
        shown = rules[page * PAGE : (page + 1) * PAGE]
        self.data = {"page": page, "shown": [rule.id for rule in shown]}
        accounts = await self._entries(ListKind.ACCOUNTS)
        rates = await self._entries(ListKind.TAX_RATES)
        details: list[Text] = []
        for rule in shown:
            details.append(self._line(rule, accounts, rates))
            if rule.flagged:
                details.append(self._flag(rule.flagged))
        options = [self.option(f"r{rule.id}", "edit", supplier=rule.party_name) for rule in shown]
        if page > 0:
            options.append(self.option("previous"))
        if page < pages - 1:
            options.append(self.option("next"))
        options.append(self.option("add"))
        if any(not rule.auto_publish for rule in rules) and self.context.actor.may(Action.PUBLISH):
            # Their documents go "when you ask": the way to ask.
            options.append(self.option("publish"))
        if not rules:
            prompt = self.text("empty")
        elif pages > 1:
            prompt = self.text("list_paged", count=len(rules), page=page + 1, pages=pages)
        else:
            prompt = self.text("list", count=len(rules))
        return Choice(self.name, "list", prompt, tuple(options), details=tuple(details))

    def _line(self, rule: Rule, accounts: dict[str, Entry], rates: dict[str, Entry]) -> Text:
        if not rule.account_code:
            return self.text("line.no_account", supplier=rule.party_name)
        how = "auto" if rule.auto_publish else "ask"
        account = _label(rule.account_code, accounts)
        if not rule.tax_rate_code:
            return self.text(f"line.{how}_no_tax", supplier=rule.party_name, account=account)
        return self.text(
            f"line.{how}",
            supplier=rule.party_name,
            account=account,
            tax_rate=_label(rule.tax_rate_code, rates),
        )

    def _flag(self, flag: str) -> Text:
        return self.text(f"flag.{flag if flag in FLAGS else 'other'}")

    # -- which supplier -------------------------------------------------------------------

    async def step_supplier(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            names = await suppliers_without_rule(
                session=self.context.session, workspace_id=self.context.workspace_id, limit=CHOICES
            )
            self.data["suggested"] = names
            options = tuple(
                Option(f"s{index}", self.text("option.supplier", supplier=name))
                for index, name in enumerate(names)
            )
            return self.form("supplier", Field("supplier"), options=(*options, self._cancel()))
        option = user_input.get("option")
        if option == "cancel":
            return self.abort("cancelled")
        suggested: list[str] = list(self.data.get("suggested", []))
        index = _index(option, "s")
        if index is not None and index < len(suggested):
            return await self._named(suggested[index], again=self.step_supplier)
        typed = str(user_input.get("supplier", user_input.get("text")) or "")
        return await self._named(typed, again=self.step_supplier)

    async def _named(self, typed: str, *, again: Callable[[], Awaitable[Step]]) -> Step:
        """The rule of the supplier named, or a new one; a name no rule can take is an
        error on the step it was typed at (`again` shows that step)."""
        party = " ".join(typed.split())
        if not party or len(party) > LONGEST_NAME or party.startswith("/"):
            shown = await again()
            if isinstance(shown, Form | Choice):
                return with_error(shown, self.error("bad_supplier"))
            return shown
        rule = await rule_of(
            session=self.context.session, workspace_id=self.context.workspace_id, party_name=party
        )
        return await self._open(rule, party)

    # -- the draft ------------------------------------------------------------------------

    async def _open(self, rule: Rule | None, party: str) -> Step:
        self.data = {
            "rule": rule.id if rule is not None else 0,
            "party": rule.party_name if rule is not None else party,
            "account": rule.account_code if rule is not None else None,
            "tax": rule.tax_rate_code if rule is not None else None,
            "auto": bool(rule.auto_publish) if rule is not None else False,
            "flag": rule.flagged if rule is not None else None,
        }
        return await self._draft()

    async def _draft(self, *, error: Text | None = None, note: Text | None = None) -> Choice:
        account, tax, auto = self.data.get("account"), self.data.get("tax"), bool(self.data["auto"])
        details = [
            self.text(
                "draft_account", account=_label(account, await self._entries(ListKind.ACCOUNTS))
            )
            if account
            else self.text("draft_account_none"),
            self.text("draft_tax", tax_rate=_label(tax, await self._entries(ListKind.TAX_RATES)))
            if tax
            else self.text("draft_tax_none"),
            self.text("draft_auto" if auto else "draft_ask"),
        ]
        if self.data.get("flag"):
            details.append(self._flag(str(self.data["flag"])))
        options = [
            self.option("account"),
            self.option("tax"),
            self.option("auto", "auto_off" if auto else "auto_on"),
            self.option("save"),
        ]
        if self.data.get("rule"):
            options.append(self.option("delete"))
        options.append(self._cancel())
        return self.choice(
            "draft",
            tuple(options),
            error=error,
            note=note,
            details=tuple(details),
            supplier=self.data["party"],
        )

    async def step_draft(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return await self._draft()
        option = user_input.get("option")
        if option == "account":
            if not await self._entries(ListKind.ACCOUNTS):
                return await self._draft(error=self.error("no_lists"))
            return await self.step_account()
        if option == "tax":
            return await self.step_tax()
        if option == "auto":
            self.data["auto"] = not bool(self.data["auto"])
            return await self._draft()
        if option == "save":
            return await self._save()
        if option == "delete" and self.data.get("rule"):
            return await self.step_delete()
        if option == "cancel":
            return self.abort("cancelled")
        return await self._draft(error=self.error("choose"))

    # -- the account ----------------------------------------------------------------------

    async def step_account(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            self.data["matches"] = []
            return self.form("account", options=(self._cancel(),))
        option = user_input.get("option")
        if option == "cancel":
            return self.abort("cancelled")
        matches: list[str] = list(self.data.get("matches", []))
        index = _index(option, "a")
        if index is not None and index < len(matches):
            self.data["account"] = matches[index]
            return await self._draft()
        if option is not None:  # a button of no match offered
            entries = await self._entries(ListKind.ACCOUNTS)
            offered = [entries[code] for code in matches if code in entries]
            if not offered:
                return self.form("account", options=(self._cancel(),), error=self.error("choose"))
            return self._accounts(offered, error=self.error("choose"))
        query = str(user_input.get("account", user_input.get("text")) or "").strip()
        found = matching(await self._account_list(), query)
        if not found:
            self.data["matches"] = []
            return self.form(
                "account", options=(self._cancel(),), error=self.error("no_account", query=query)
            )
        if len(found) == 1:  # plainly meant: taken without a press, shown on the draft
            self.data["account"] = found[0].code
            return await self._draft()
        return self._accounts(found)

    def _accounts(self, found: list[Entry], *, error: Text | None = None) -> Form:
        shown = found[:CHOICES]
        self.data["matches"] = [entry.code for entry in shown]
        options = tuple(
            Option(f"a{index}", self.text("option.entry", entry=entry.label))
            for index, entry in enumerate(shown)
        )
        more = len(found) > CHOICES
        prompt = self.text("accounts_more" if more else "accounts", count=len(found))
        return Form(
            self.name,
            "account",
            prompt,
            (Field("account"),),
            (*options, self._cancel()),
            error,
        )

    async def _account_list(self) -> list[Entry]:
        return await list_entries(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            kind=ListKind.ACCOUNTS,
        )

    # -- the tax rate ---------------------------------------------------------------------

    async def step_tax(self, user_input: Input | None = None) -> Step:
        rates = await list_entries(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            kind=ListKind.TAX_RATES,
        )
        if not rates:
            return await self._draft(error=self.error("no_lists"))
        if user_input is None:
            return self._rates(rates)
        option = user_input.get("option")
        if option == "cancel":
            return self.abort("cancelled")
        if option == "none":
            self.data["tax"] = None
            return await self._draft()
        offered: list[str] = list(self.data.get("rates", []))
        index = _index(option, "t")
        if index is not None and index < len(offered):
            self.data["tax"] = offered[index]
            return await self._draft()
        if option is not None:
            return self._rates(rates, error=self.error("choose"))
        query = str(user_input.get("tax", user_input.get("text")) or "").strip()
        found = matching(rates, query)
        if not found:
            return self._rates(rates, error=self.error("no_tax_rate", query=query))
        if len(found) == 1:
            self.data["tax"] = found[0].code
            return await self._draft()
        return self._rates(found)

    def _rates(self, rates: list[Entry], *, error: Text | None = None) -> Form:
        shown = rates[:RATES]
        self.data["rates"] = [entry.code for entry in shown]
        options = tuple(
            Option(f"t{index}", self.text("option.entry", entry=entry.label))
            for index, entry in enumerate(shown)
        )
        return self.form(
            "tax", options=(*options, self.option("none"), self._cancel()), error=error
        )

    # -- saving and deleting --------------------------------------------------------------

    async def _save(self) -> Step:
        if not self.data.get("account"):  # a rule without one publishes nothing
            return await self._draft(error=self.error("account_first"))
        session, workspace_id = self.context.session, self.context.workspace_id
        try:
            async with session.begin_nested():
                rule = await save_rule(
                    session=session,
                    by=self.context.member,
                    workspace_id=workspace_id,
                    party_name=str(self.data["party"]),
                    account_code=str(self.data["account"]),
                    tax_rate_code=str(self.data["tax"]) if self.data.get("tax") else None,
                    auto_publish=bool(self.data["auto"]),
                )
        except RuleCodeUnknown as err:
            # Left the books since it was chosen (the lists were reloaded): choose again.
            field = "account" if err.params.get("kind") == ListKind.ACCOUNTS else "tax"
            self.data[field] = None
            key = "account_unknown" if field == "account" else "tax_rate_unknown"
            return await self._draft(error=self.error(key, code=str(err.params.get("code"))))
        # save_rule let the supplier's documents held for want of a rule back in the
        # inbox: with those already waiting there, they are what this rule now sends.
        ready = await ready_documents(
            session=session, workspace_id=workspace_id, party_key=rule.party_key
        )
        ids = [document.id for document in ready if document.id is not None]
        if not ids:
            return self.done("saved", supplier=rule.party_name)
        if rule.auto_publish:
            self._publish_later(ids, rule.party_name)
            return self.done("saved_sending", supplier=rule.party_name, count=len(ids))
        if not self.context.actor.may(Action.PUBLISH):
            return self.done("saved_waiting", supplier=rule.party_name, count=len(ids))
        self.data = {"supplier": rule.party_name, "count": len(ids)}
        return self._saved_ready()

    def _saved_ready(self, *, error: Text | None = None) -> Choice:
        return self.choice(
            "saved_ready",
            (self.option("publish"),),
            error=error,
            supplier=self.data["supplier"],
            count=self.data["count"],
        )

    async def step_saved_ready(self, user_input: Input | None = None) -> Step:
        if user_input is not None and user_input.get("option") == "publish":
            return await self.step_ready()
        return self._saved_ready(error=None if user_input is None else self.error("choose"))

    def _publish_later(self, ids: list[int], supplier: str) -> None:
        """Send the supplier's ready documents once this step committed; the report of
        what the books wrote and refused reaches the person through the outbox."""
        context, workspace_id = self.context, self.context.workspace_id
        member_id, documents = context.member.id, tuple(ids)
        # Built now, so an interface lacking a part fails this step, not the work after.
        acc = accounting(context.services)

        async def publish() -> None:
            await publish_and_report(
                acc,
                workspace_id=workspace_id,
                document_ids=documents,
                recipient_member_id=member_id,
                occasion="rule",
                supplier=supplier,
            )

        self.later(publish)

    async def step_delete(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self._confirm_delete()
        option = user_input.get("option")
        if option == "delete":
            rule = await delete_rule(
                session=self.context.session,
                by=self.context.member,
                workspace_id=self.context.workspace_id,
                rule_id=int(self.data["rule"]),
            )
            return self.done("deleted", supplier=rule.party_name)
        if option == "cancel":
            return self.abort("cancelled")
        return self._confirm_delete(error=self.error("choose"))

    def _confirm_delete(self, *, error: Text | None = None) -> Choice:
        options = (self.option("delete", "delete_confirm"), self._cancel())
        return self.choice("delete", options, error=error, supplier=self.data["party"])

    # -- publishing what is ready ---------------------------------------------------------

    async def step_ready(self, user_input: Input | None = None) -> Step:
        """The publish flow's "ready" step (core/flows/publish.py), run in this one: the
        Publish button of the list or of a saved rule shows what is ready and sends it,
        as /publish does. Its data is kept apart, under "publish"."""
        publish = Publish(self.context, dict(self.data.get("publish") or {}))
        step = await publish.step_ready(user_input)
        self.data["publish"] = publish.data
        return step

    # -- helpers --------------------------------------------------------------------------

    def _cancel(self) -> Option:
        return self.option("cancel")

    async def _entries(self, kind: ListKind) -> dict[str, Entry]:
        entries = await list_entries(
            session=self.context.session, workspace_id=self.context.workspace_id, kind=kind
        )
        return {entry.code: entry for entry in entries}


def _label(code: str, entries: dict[str, Entry]) -> str:
    entry = entries.get(code)
    return entry.label if entry is not None else code


def _index(option: Any, prefix: str) -> int | None:
    """The number a button's id carries after `prefix` ("r12" → 12), or None."""
    if not isinstance(option, str) or not option.startswith(prefix):
        return None
    digits = option.removeprefix(prefix)
    return int(digits) if digits.isdigit() and len(digits) < 12 else None
