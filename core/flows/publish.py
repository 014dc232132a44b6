"""Publishing from the chat: see what is ready, send it to the books, hear what happened.

    /publish → "ready": 3 documents ready (EDF, Orange), 1 refused earlier
             → [Publish 3] [Retry the refused] [Cancel]
             → done "sending"; the report follows from the outbox (written, refused with
               the software's reason and a Retry button, waiting, held)

A Retry button (on a refusal notice or a report) starts the flow with the document it
names, `{"document": id}`, or with `{"refused": true}` for every refused one: the press
is the confirmation, so it sends at once. The software is called after the step's
transaction commits (`later`): publishing opens its own transactions and may wait on the
software, which no step may do while it holds the chat's transaction.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.flows.accounting import accounting
from core.flows.flow import Flow, Input
from core.flows.steps import Choice, Step, with_error
from core.permissions import Action
from core.services.publish_reports import (
    NAMED_SUPPLIERS,
    Plan,
    link_problem,
    plan_publish,
    plan_retry,
    publish_and_report,
)


class Publish(Flow):
    name = "publish"
    first = "start"
    requires: ClassVar[Action | None] = Action.PUBLISH

    async def step_start(self, user_input: Input | None = None) -> Step:
        args = user_input or {}
        if "document" in args:
            problem = await link_problem(
                session=self.context.session, workspace_id=self.context.workspace_id
            )
            if problem is not None:
                return self.abort(problem)
            ids = await plan_retry(
                session=self.context.session,
                by=self.context.member,
                workspace_id=self.context.workspace_id,
                document_id=int(args["document"]),
            )
            if not ids:
                return self.abort("nothing_to_retry")
            return await self._send(ids, "retrying")
        if args.get("refused"):
            plan = await self._plan()
            if plan.blocked is not None:
                return self.abort(plan.blocked)
            if not plan.refused:
                return self.done("nothing_refused")
            return await self._send(plan.refused, "retrying")
        return await self.step_ready()

    async def step_ready(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            plan = await self._plan()
            if plan.blocked is not None:
                return self.abort(plan.blocked)
            if not plan.ready and not plan.refused:
                if plan.review:
                    return self.done("nothing_ready_review", review=plan.review)
                return self.done("nothing_ready")
            self.data = {"ready": list(plan.ready), "refused": list(plan.refused)}
            options = []
            if plan.ready:
                options.append(self.option("publish", count=len(plan.ready)))
            if plan.refused:
                options.append(self.option("retry", count=len(plan.refused)))
            options.append(self.option("cancel"))
            shown = plan.suppliers[:NAMED_SUPPLIERS]
            suppliers = ", ".join(shown) + (", …" if len(plan.suppliers) > len(shown) else "")
            note = self.text("refused_note", count=len(plan.refused)) if plan.refused else None
            if not plan.ready:
                return Choice(
                    self.name, "ready", self.text("only_refused"), tuple(options), None, note
                )
            return self.choice(
                "ready", tuple(options), note=note, count=len(plan.ready), suppliers=suppliers
            )
        chosen = user_input.get("option")
        if chosen == "publish" and self.data.get("ready"):
            return await self._send(_ids(self.data["ready"]), "sending")
        if chosen == "retry" and self.data.get("refused"):
            return await self._send(_ids(self.data["refused"]), "retrying")
        if chosen == "cancel":
            return self.abort("cancelled")
        again = await self.step_ready()
        if isinstance(again, Choice):
            return with_error(again, self.error("choose"))
        return again

    async def _plan(self) -> Plan:
        return await plan_publish(
            session=self.context.session,
            by=self.context.member,
            workspace_id=self.context.workspace_id,
        )

    async def _send(self, ids: tuple[int, ...] | list[int], result: str) -> Step:
        """Publish once this step has committed; the report reaches the person through
        the outbox (core/services/outcome_notices.py, kind `publish_report`)."""
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
            )

        self.later(publish)
        return self.done(result, count=len(documents))


def _ids(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)
