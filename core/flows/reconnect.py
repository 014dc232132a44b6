"""`reconnect`: log in to a supplier again, now that someone is there to answer it (from
/connections, and from the buttons of the notifier's messages: "Reconnect" after the site
asked for something, "Send a new code" after a wrong or lost 2FA code).

One step: it says what happens and starts it. A run waiting for a code gives that code
up (core/services/connection_controls.py `reconnect`), and once it has stopped a new
login makes the site send a new code, which is asked for as usual.
"""

from __future__ import annotations

from core.errors import IllegalTransition, NotAllowed
from core.flows.connect import refused
from core.flows.flow import Flow, Input
from core.flows.steps import Step
from core.services import connection_controls as controls
from core.services.connections import connection_view


class ReconnectFlow(Flow):
    name = "reconnect"
    first = "start"

    async def step_start(self, user_input: Input | None = None) -> Step:
        """Started with {"connection_id": id}; who may manage it is checked in core."""
        connection_id = int((user_input or {}).get("connection_id") or 0)
        session = self.context.session
        target = controls.Target(self.context.member, self.context.workspace_id, connection_id)
        view = await connection_view(
            session=session, workspace_id=self.context.workspace_id, connection_id=connection_id
        )
        try:
            done = await controls.reconnect(
                session=session, target=target, interactive_for=controls.INTERACTIVE_FOR
            )
        except IllegalTransition:
            return self.abort("paused", supplier=view.supplier, login=view.login)
        except NotAllowed as err:
            return self.abort(refused(err))
        runs = self.context.service("runs")
        if done.new_code:

            async def again() -> None:
                runs.restart(connection_id)

            self.later(again)
            return self.done("new_code", supplier=view.supplier, login=view.login)
        if not done.in_flight:  # a run under way tells its own outcome

            async def run() -> None:
                runs.start(connection_id, announce=True)

            self.later(run)
        return self.done("started", supplier=view.supplier, login=view.login)
