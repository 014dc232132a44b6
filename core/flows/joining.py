"""Entering a workspace: joining one with an invite code (`/start CODE`, or the code typed
when asked), and choosing which of one's workspaces to work in (`/workspace`).

    start ─┬─ {"code": c} ──► code ──► Done("joined_<role>")
           │                   ▲  │
           │                   └──┘ unknown, expired or spent: the code is asked again
           ├─ {"switch": …} ─► workspace (one button each) ──► Done("switched")
           └─ nothing ───────► code (a stranger) or Done("welcome_back") (a member)

Most joins are one step, /start CODE → Done, and keep no row. A stranger's flow has no
workspace (`Actor.workspace_id` None); a member's belongs to the workspace they were in.
Either way the step that changes the active workspace ends the flow, so no later input
meets a flow of the workspace the person just left.
"""

from __future__ import annotations

from core.errors import InviteExpired, InviteUnknown, InviteUsed
from core.flows.flow import Flow, Input
from core.flows.steps import Option, Step
from core.models import Member, Workspace
from core.services.conversations import set_active_workspace, workspaces_of
from core.services.members import join_workspace

#: A code is 12 letters and digits; anything much longer is not one, and not worth a hash.
_LONGEST_CODE = 64


class Joining(Flow):
    name = "joining"
    first = "start"

    async def step_start(self, user_input: Input | None = None) -> Step:
        args = user_input or {}
        # Who the person is, as the chat knows them: kept for the member row a code makes.
        self.data["name"] = str(args.get("name") or "")[:120]
        self.data["language_code"] = args.get("language_code")
        if args.get("code"):
            return await self.step_code({"code": args["code"]})
        if self.context.actor.member is None:
            # A stranger: joining is all they can do, so the code is asked for.
            return await self.step_code()
        if args.get("switch"):
            return await self.step_workspace()
        current = await self._current()
        return self.done("welcome_back", workspace=current.name if current else "")

    async def step_code(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self.form("code")
        code = str(user_input.get("code", user_input.get("text", "")) or "").strip()
        if not code or len(code) > _LONGEST_CODE:
            return self.form("code", error="unknown")
        telegram_user_id = self.context.actor.telegram_user_id
        assert telegram_user_id is not None, "joining is a chat's flow"
        before = {w.id for _, w in await self._memberships()}
        try:
            member = await join_workspace(
                session=self.context.session,
                code=code,
                telegram_user_id=telegram_user_id,
                display_name=str(self.data.get("name") or telegram_user_id),
                language_code=self.data.get("language_code"),
            )
        except InviteUnknown:
            return self.form("code", error="unknown")
        except InviteUsed:
            return self.form("code", error="used")
        except InviteExpired as err:
            return self.form("code", error=self.error("expired", **err.params))
        workspace = await self._activate(member)
        if member.workspace_id in before:
            # The code is not spent: it stays for the person it was meant for.
            return self.abort("already_member", workspace=workspace.name)
        return self.done(f"joined_{member.role}", workspace=workspace.name)

    async def step_workspace(self, user_input: Input | None = None) -> Step:
        pairs = await self._memberships()
        current = self.context.actor.workspace_id
        if user_input is None:
            if len(pairs) <= 1:
                name = pairs[0][1].name if pairs else ""
                return self.done("only_one", workspace=name)
            return self.choice("workspace", self._options(pairs, current))
        chosen = str(user_input.get("option", ""))
        found = next(((m, w) for m, w in pairs if f"w{w.id}" == chosen), None)
        if found is None:
            # Left that workspace meanwhile: the list as it is now.
            return self.choice("workspace", self._options(pairs, current), error="gone")
        workspace = await self._activate(found[0])
        return self.done("switched", workspace=workspace.name)

    def _options(
        self, pairs: list[tuple[Member, Workspace]], current: int | None
    ) -> tuple[Option, ...]:
        """A button per workspace, the current one marked; ids only (`w<id>`)."""
        return tuple(
            self.option(f"w{w.id}", "current" if w.id == current else "other", workspace=w.name)
            for _, w in pairs
        )

    async def _memberships(self) -> list[tuple[Member, Workspace]]:
        telegram_user_id = self.context.actor.telegram_user_id
        if telegram_user_id is None:
            return []
        return await workspaces_of(session=self.context.session, telegram_user_id=telegram_user_id)

    async def _current(self) -> Workspace | None:
        current = self.context.actor.workspace_id
        return next((w for _, w in await self._memberships() if w.id == current), None)

    async def _activate(self, member: Member) -> Workspace:
        """Work in `member`'s workspace from now on."""
        assert member.telegram_user_id is not None
        await set_active_workspace(
            session=self.context.session,
            telegram_user_id=member.telegram_user_id,
            workspace_id=member.workspace_id,
        )
        return next(w for _, w in await self._memberships() if w.id == member.workspace_id)
