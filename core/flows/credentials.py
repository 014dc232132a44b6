"""`credentials`: new credentials for a connection (from /connections, or the button of a
"login refused" message).

login (one press keeps the current one; a login another connection of the workspace
uses at this supplier is refused here, with its key, before the password) → password
(never kept: it is the last step, sealed into the connection at once) → saved, and
checked in the background.

A supplier that signs in by the owner's consent (Google Ads) has no password to type:
the flow shows its consent address again at once, for the same connection (its login
kept), and the callback replaces the token (core/services/supplier_sign_in.py). That is
the way out of `sign_in_expired`, when the owner withdrew Courier's access or it lapsed.
"""

from __future__ import annotations

from pydantic import SecretStr

from core.errors import ConnectionDuplicate, NotAllowed
from core.flows.connect import consent_sign_in, refused
from core.flows.flow import Field, Flow, Input, secret_of
from core.flows.steps import Form, Step, Text
from core.models import Supplier
from core.services import connection_controls as controls
from core.services.connections import LOGIN_MAX, connection_view, login_taken
from core.services.supplier_sign_in import start_consent


class CredentialsFlow(Flow):
    name = "credentials"
    first = "start"

    def _target(self) -> controls.Target:
        return controls.Target(
            self.context.member, self.context.workspace_id, int(self.data["connection_id"])
        )

    async def step_start(self, user_input: Input | None = None) -> Step:
        """Started with {"connection_id": id}; who may manage it is checked in core
        (NotAllowed ends the flow with the refusal's words)."""
        connection_id = int((user_input or {}).get("connection_id") or 0)
        self.data["connection_id"] = connection_id
        try:
            connection = await controls.controlled(
                session=self.context.session, target=self._target()
            )
        except NotAllowed as err:
            return self.abort(refused(err))
        view = await connection_view(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            connection_id=connection_id,
        )
        supplier = await self.context.session.get(Supplier, view.supplier_id)
        sign_in = consent_sign_in(self, supplier.key) if supplier is not None else None
        if sign_in is not None:
            if not sign_in.registered:
                return self.abort("not_configured", supplier=view.supplier)
            url = await start_consent(
                session=self.context.session,
                sign_in=sign_in,
                connection=connection,
                member_id=self.context.member.id,
                redirect_uri=self.context.service("settings").oauth_callback_url,
                now=self.context.now,
            )
            return self.done("authorise", supplier=view.supplier, login=view.login, url=url)
        self.data.update(supplier_id=view.supplier_id, supplier=view.supplier, current=view.login)
        return self._ask_login()

    def _ask_login(self, error: Text | None = None) -> Form:
        current = str(self.data["current"])
        return self.form(
            "login",
            Field("login"),
            options=(self.option("keep", login=current),),
            error=error,
            supplier=str(self.data["supplier"]),
            login=current,
        )

    async def step_login(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self._ask_login()
        if user_input.get("option") == "keep":
            login = str(self.data["current"])
        else:
            login = str(user_input.get("login") or user_input.get("text") or "").strip()
        if not login:
            return self._ask_login(self.error("login_empty"))
        if len(login) > LOGIN_MAX:
            return self._ask_login(self.error("login_too_long", limit=LOGIN_MAX))
        taken = await login_taken(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            supplier_id=int(self.data["supplier_id"]),
            login=login,
            other_than=int(self.data["connection_id"]),
        )
        if taken is not None:
            return self._login_taken(login)
        self.data["login"] = login
        return self._ask_password()

    def _login_taken(self, login: str) -> Form:
        return self._ask_login(
            self.error("login_taken", supplier=str(self.data["supplier"]), login=login)
        )

    def _ask_password(self, error: Text | None = None) -> Form:
        return self.form(
            "password",
            Field("password", "secret"),
            error=error,
            supplier=str(self.data["supplier"]),
            login=str(self.data["login"]),
        )

    async def step_password(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self._ask_password()
        secret = secret_of(user_input, "password")
        if not secret.strip():
            return self._ask_password(self.error("password_empty"))
        session = self.context.session
        login = str(self.data["login"])
        try:
            async with session.begin_nested():
                connection = await controls.update_credentials(
                    session=session,
                    vault=self.context.service("vault"),
                    target=self._target(),
                    login=login,
                    password=SecretStr(secret),
                    interactive_for=controls.INTERACTIVE_FOR,
                )
        except ConnectionDuplicate:
            # Given to another connection since the login step: back to it.
            self.data.pop("login", None)
            return self._login_taken(login)
        connection_id = connection.id
        assert connection_id is not None
        runs = self.context.service("runs")

        async def verify() -> None:
            runs.start(connection_id, announce=True)

        self.later(verify)
        return self.done("updated", supplier=str(self.data["supplier"]), login=login)
