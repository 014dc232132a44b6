"""`/integration`: the workspace's accounting software, for its owners and admins.

One flow, its steps written by role:
- core/flows/integration_base.py: the software offered, the status and its menu, reloads;
- core/flows/integration_link.py: link (software, then ledger, token or OAuth), reconnect;
- core/flows/integration_change.py: change software, then transfer the rules;
- core/flows/integration_disconnect.py: disconnect, keeping the rules or not;
- core/flows/integration_jobs.py: the calls to the software, after each step's commit.

It starts at the status (or at the choice of software when nothing is linked), at a
reconnect (`{"reconnect": id}`, an expiry alert's button) or back from the software's
authorisation page (`{"linked": id}`, the OAuth callback's deep link). Who may do this
is checked in core: `requires` for the flow, `require_manager` in every service.
"""

from __future__ import annotations

from core.errors import NotFound
from core.flows.flow import Input
from core.flows.integration_change import ChangeSteps
from core.flows.integration_disconnect import DisconnectSteps
from core.flows.steps import Step
from core.services.integration_status import has_rules, live_integration, previous_integration


class IntegrationFlow(ChangeSteps, DisconnectSteps):
    first = "start"

    async def step_start(self, user_input: Input | None = None) -> Step:
        args = dict(user_input or {})
        named = args.get("reconnect") or args.get("linked")
        if named is None:
            return await self.step_status()
        try:
            integration = await live_integration(
                session=self.context.session,
                workspace_id=self.context.workspace_id,
                integration_id=int(named),
                actor=self.context.member.id,
            )
        except (NotFound, TypeError, ValueError):
            return self.abort("gone")
        assert integration.id is not None
        if "reconnect" in args:
            await self.step_status()  # what the link is, for the steps that follow
            return await self.reconnect()
        software = self.display_name(integration.provider)
        note = self.text("linked", software=software)
        previous = await previous_integration(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            integration_id=integration.id,
        )
        if previous is not None and await has_rules(
            session=self.context.session, workspace_id=self.context.workspace_id
        ):
            await self.step_status()
            return await self.step_transfer(note=note)
        return await self.step_status(note=note)
