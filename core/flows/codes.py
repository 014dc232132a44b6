"""`code`: a 2FA code given in the chat, where it takes a question to know which request
it answers.

- A bare code typed outside any conversation (`{"code": ...}`) answers the one open
  challenge the person may answer; with several, the flow asks which (each shown with
  its supplier and login), the code waiting sealed meanwhile; with none, it says so.
- "Type the code" under a prompt (`{"challenge_id": id}`) asks for the code of that
  challenge.

A reply to a prompt needs no question (it names its challenge): the interface answers it
directly with `core.services.challenges.answer_code`.
"""

from __future__ import annotations

from core.errors import ChallengeClosed, NotAllowed
from core.flows.connect import refused
from core.flows.flow import Field, Flow, Input
from core.flows.steps import Step, Text
from core.models import ChallengeState
from core.permissions import Action
from core.services.challenges import (
    ChallengeView,
    answer_code,
    answerable_views,
    challenge_view,
    read_code,
)


class CodeFlow(Flow):
    name = "code"
    first = "start"

    async def step_start(self, user_input: Input | None = None) -> Step:
        args = user_input or {}
        if args.get("challenge_id"):
            return await self._for_challenge(int(args["challenge_id"]))
        code = read_code(str(args.get("code") or ""))
        if code is None:
            return self.abort("not_a_code")
        waiting = await answerable_views(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            by=self.context.member,
        )
        if not waiting:
            return self.abort("none_awaited")
        if len(waiting) == 1:
            return await self._answer(waiting[0], code)
        # Which one? The code waits sealed, never in clear.
        self.data["code_sealed"] = self.context.service("vault").seal(code)
        self.data["offered"] = [view.id for view in waiting]
        return self._ask_which(waiting)

    def _ask_which(self, waiting: list[ChallengeView], error: Text | None = None) -> Step:
        options = tuple(
            self.option(f"c{view.id}", "challenge", supplier=view.supplier, login=view.login)
            for view in waiting
        )
        return self.choice("which", (*options, self.option("cancel")), error=error)

    async def step_which(self, user_input: Input | None = None) -> Step:
        picked = str((user_input or {}).get("option") or "")
        if picked == "cancel":
            return self.abort(Text("common.cancelled"))
        offered = [int(ident) for ident in self.data.get("offered", [])]
        ident = int(picked[1:]) if picked.startswith("c") and picked[1:].isdigit() else 0
        waiting = await answerable_views(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            by=self.context.member,
        )
        chosen = next((view for view in waiting if view.id == ident and ident in offered), None)
        if chosen is None:
            still = [view for view in waiting if view.id in offered]
            if not still:
                return self.abort("closed")
            return self._ask_which(still, self.error("pick_one"))
        code = self.context.service("vault").open(str(self.data["code_sealed"]))
        return await self._answer(chosen, code)

    async def _for_challenge(self, challenge_id: int) -> Step:
        view = await challenge_view(
            session=self.context.session,
            workspace_ids=(self.context.workspace_id,),
            challenge_id=challenge_id,
        )
        if view is None:
            # Perhaps another of the person's workspaces: a reply to the prompt still works.
            return self.abort("reply_instead")
        if view.state != ChallengeState.OPEN:
            return self.abort("closed")
        if not self.context.actor.may(
            Action.ANSWER_CODE, resource_owner_id=view.owner_member_id
        ):  # asked before the code is typed, not after
            return self.abort(Text(f"permissions.{Action.ANSWER_CODE.value}"))
        self.data.update(challenge_id=view.id, supplier=view.supplier, login=view.login)
        return self._ask_code()

    def _ask_code(self, error: Text | None = None) -> Step:
        return self.form(
            "code",
            Field("code"),
            error=error,
            supplier=str(self.data["supplier"]),
            login=str(self.data["login"]),
        )

    async def step_code(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self._ask_code()
        code = read_code(str(user_input.get("code") or user_input.get("text") or ""))
        if code is None:
            return self._ask_code(self.error("not_a_code"))
        view = await challenge_view(
            session=self.context.session,
            workspace_ids=(self.context.workspace_id,),
            challenge_id=int(self.data["challenge_id"]),
        )
        if view is None or view.state != ChallengeState.OPEN:
            return self.abort("closed")
        return await self._answer(view, code)

    async def _answer(self, view: ChallengeView, code: str) -> Step:
        """Hand the code to the waiting run (NotAllowed ends the flow with its refusal)."""
        try:
            await answer_code(
                session=self.context.session,
                vault=self.context.service("vault"),
                by=self.context.member,
                workspace_id=self.context.workspace_id,
                challenge_id=view.id,
                code=code,
                via="chat",
                now=self.context.now,
            )
        except ChallengeClosed:  # expired, or a new login replaced it meanwhile
            return self.abort("closed")
        except NotAllowed as err:
            return self.abort(refused(err))
        return self.done("passed", supplier=view.supplier, login=view.login)
