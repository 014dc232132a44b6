"""What every part of `/integration` shares: the software this installation offers, the
link's status with its menu, and reloading the lists.

The status is a `Choice`: what the link is (its software, company, state, lists and the
documents waiting), with what can be done to it. The roles (link, change, disconnect)
are steps of one flow, written in their own modules (core/flows/integration_*.py),
because one press on the menu leads into any of them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.accounting.registry import Offer, ProviderRegistry
from core.errors import CourierError
from core.flows.accounting import registry
from core.flows.flow import Flow, Input
from core.flows.integration_jobs import refreshing
from core.flows.steps import Choice, Form, Progress, Step, Text, with_error
from core.models import ListKind
from core.permissions import Action
from core.services.integration_status import integration_status

#: The menu under the status, in the order people see it.
MENU = ("reconnect", "refresh", "lists", "change", "disconnect")


class IntegrationBase(Flow):
    name = "integration"
    requires: ClassVar[Action | None] = Action.MANAGE_INTEGRATION

    # --- what the installation offers ----------------------------------------------

    def providers(self) -> ProviderRegistry:
        return registry(self.context.services)

    def offers(self) -> list[Offer]:
        return self.providers().offers()

    def display_name(self, provider: str) -> str:
        try:
            return self.providers().info(provider).display_name
        except CourierError:
            return provider

    # --- shared shapes ---------------------------------------------------------------

    def again(self, step: Step, error: str | Text) -> Step:
        """`step` shown again with what went wrong (a flow error key, or a Text)."""
        if not isinstance(step, Form | Choice | Progress):
            return step
        return with_error(step, self.error(error) if isinstance(error, str) else error)

    def cancelled(self, user_input: Input) -> bool:
        return user_input.get("option") == "cancel"

    # --- the status and its menu -----------------------------------------------------

    async def step_status(
        self, user_input: Input | None = None, *, note: Text | None = None
    ) -> Step:
        if user_input is None:
            return await self._status(note)
        option = user_input.get("option")
        if option is None:
            # Text typed at a menu is for something else: the menu closes and says so,
            # rather than keep every later message (a code, a name) for itself.
            return self.abort("closed")
        self.data["sign_in"] = "status"
        if option == "refresh":
            return self._refresh(None)
        if option == "lists":
            return await self.step_lists()
        return await self.menu(str(option))

    async def menu(self, option: str) -> Step:
        """The menu's other entries, answered by the roles' modules."""
        return self.again(await self._status(None), "choose")

    async def _status(self, note: Text | None) -> Step:
        status = await integration_status(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            actor=self.context.member.id,
        )
        # The menu is where nothing is under way: whatever was tried from it is over.
        self.data.pop("purpose", None)
        if status is None:
            # Disconnected meanwhile (another admin, the command line): link one.
            return await self.step_software()
        software = self.display_name(status.provider)
        self.data.update(
            integration_id=status.integration_id, software=software, linked=status.provider
        )
        counts = status.counts
        prompt = self.text(
            f"status.{status.state}",
            software=software,
            company=status.company,
            accounts=counts.get(ListKind.ACCOUNTS, 0),
            suppliers=counts.get(ListKind.SUPPLIERS, 0),
            tax_rates=counts.get(ListKind.TAX_RATES, 0),
            loaded=f"{status.loaded_at:%Y-%m-%d %H:%M} UTC" if status.loaded_at else "",
            waiting=status.waiting,
            held=status.held,
        )
        error = self.error("last", error=status.last_error) if status.last_error else None
        options = tuple(self.option(verb) for verb in MENU)
        return Choice(self.name, "status", prompt, options, error, note)

    async def step_software(self, user_input: Input | None = None) -> Step:
        raise NotImplementedError  # core/flows/integration_link.py

    # --- reloading the lists -----------------------------------------------------------

    async def step_lists(self, user_input: Input | None = None) -> Step:
        provider = str(self.data.get("linked", ""))
        kinds = sorted(self.providers().info(provider).list_kinds) if provider else []
        if user_input is None:
            options = (*(self.option(str(k)) for k in kinds), self.option("cancel"))
            return self.choice("lists", options, columns=2)
        if self.cancelled(user_input):
            return self.abort("cancelled")
        chosen = user_input.get("option")
        if chosen not in {str(k) for k in kinds}:
            return self.again(await self.step_lists(), "choose")
        return self._refresh(ListKind(str(chosen)))

    def _refresh(self, kind: ListKind | None) -> Step:
        software = str(self.data.get("software", ""))
        self.data["kind"] = str(kind) if kind is not None else None
        self.later(refreshing(self.context, kind=kind, software=software))
        return self.progress("refreshing", software=software)

    async def step_refreshing(self, user_input: Input | None = None) -> Step:
        software = str(self.data.get("software", ""))
        outcome = (user_input or {}).get("outcome")
        if outcome == "failed":
            return self.again(await self._status(None), _error(user_input))
        if outcome != "refreshed":
            return self.progress("refreshing", software=software)
        assert user_input is not None
        flagged: list[str] = list(user_input.get("flagged") or [])
        kind = self.data.get("kind")
        if flagged:
            note = self.text("refreshed_flagged", suppliers=", ".join(flagged))
        elif kind:
            counts: dict[str, Any] = dict(user_input.get("counts") or {})
            note = self.text(f"reloaded.{kind}", count=counts.get(kind, 0))
        else:
            note = self.text("refreshed")
        return await self._status(note)


def _error(user_input: Input | None) -> Text:
    error = (user_input or {}).get("error")
    return error if isinstance(error, Text) else Text("errors.internal_step")
