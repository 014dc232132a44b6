"""Disconnecting the accounting software, keeping the supplier rules for later or not.

The documents always stay; those waiting for this link go back to the inbox. The grant
is revoked at the software after the commit, where it allows it.
"""

from __future__ import annotations

from core.flows.flow import Input
from core.flows.integration_base import IntegrationBase, _error
from core.flows.integration_jobs import disconnecting
from core.flows.steps import Step


class DisconnectSteps(IntegrationBase):
    async def menu(self, option: str) -> Step:
        if option == "disconnect":
            return await self.step_disconnect()
        return await super().menu(option)

    async def step_disconnect(self, user_input: Input | None = None) -> Step:
        software = str(self.data.get("software", ""))
        if user_input is None:
            options = (self.option("keep"), self.option("drop"), self.option("cancel"))
            return self.choice("disconnect", options, software=software)
        if self.cancelled(user_input):
            return self.abort("cancelled")
        option = user_input.get("option")
        if option not in ("keep", "drop"):
            return self.again(await self.step_disconnect(), "choose")
        self.data["keep_rules"] = option == "keep"
        self.later(disconnecting(self.context, keep_rules=option == "keep", software=software))
        return self.progress("disconnecting", software=software)

    async def step_disconnecting(self, user_input: Input | None = None) -> Step:
        software = str(self.data.get("software", ""))
        outcome = (user_input or {}).get("outcome")
        if outcome == "failed":
            return self.again(await self.step_status(), _error(user_input))
        if outcome != "disconnected":
            return self.progress("disconnecting", software=software)
        assert user_input is not None
        if self.data.get("keep_rules"):
            return self.done("disconnected_kept", software=software)
        return self.done("disconnected_dropped", software=software, rules=user_input["dropped"])
