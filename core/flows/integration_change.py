"""Changing software: the new one is linked like a first one (core/flows/integration_link.py),
the old one disconnected only once the new one works; then the supplier rules are
transferred, after the person has seen what maps and what does not.

The preview is the transfer itself, rolled back: what it shows is exactly what applying
it will do.
"""

from __future__ import annotations

from collections.abc import Callable

from core.flows.flow import Input
from core.flows.integration_link import LinkSteps
from core.flows.steps import Choice, Step, Text
from core.services.integration_status import has_rules
from core.services.rules import TransferReport, transfer_rules


class _Preview(Exception):
    """Rolls a transfer back once its report is read: it is only shown, not applied."""

    def __init__(self, report: TransferReport) -> None:
        self.report = report


class ChangeSteps(LinkSteps):
    async def menu(self, option: str) -> Step:
        if option == "change":
            self.data["purpose"] = "change"
            return await self.step_software()
        return await super().menu(option)

    async def after_link(self, purpose: str, software: str) -> Step:
        if purpose == "change" and await has_rules(
            session=self.context.session, workspace_id=self.context.workspace_id
        ):
            return await self.step_transfer(note=self.text("linked", software=software))
        return await super().after_link(purpose, software)

    async def step_transfer(
        self, user_input: Input | None = None, *, note: Text | None = None
    ) -> Step:
        if user_input is None:
            report = await self._preview()
            options = (self.option("apply"), self.option("leave"))
            prompt = _said(self.text, "transfer", report)
            return Choice(self.name, "transfer", prompt, options, None, note)
        option = user_input.get("option")
        if option == "leave":
            return await self.step_status(note=self.text("transfer_left"))
        if option != "apply":
            return self.again(await self.step_transfer(), "choose")
        report = await transfer_rules(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            actor=self.context.member.id,
        )
        return await self.step_status(note=_said(self.text, "transferred", report))

    async def _preview(self) -> TransferReport:
        session = self.context.session
        try:
            async with session.begin_nested():
                raise _Preview(
                    await transfer_rules(
                        session=session,
                        workspace_id=self.context.workspace_id,
                        actor=self.context.member.id,
                    )
                )
        except _Preview as preview:
            return preview.report


def _said(text: Callable[..., Text], key: str, report: TransferReport) -> Text:
    """`key` when every rule maps, `<key>_unmapped` listing those that do not, one a line:
    names and codes only (the software's own words), so no sentence is built here."""
    if not report.unmapped:
        return text(key, mapped=report.mapped, rules=report.rules)
    lines = "\n".join(f"• {u.party_name}: {u.name} ({u.code})" for u in report.unmapped)
    return text(f"{key}_unmapped", mapped=report.mapped, rules=report.rules, unmapped=lines)
