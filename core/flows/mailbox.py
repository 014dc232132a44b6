"""Adding a watched mailbox: its server, its user name, its password; then Courier logs
in, and only once the server accepted the login does it say "I now watch".

    host ──► user ──► secret ──► checking ──► Done("added")
     ▲         ▲        ▲            │
     │         │        └────────────┤ the password refused (auth_failed, token_expired)
     │         └─────────────────────┤ no such folder (another user name?)
     └───────────────────────────────┘ no answer, TLS, a private host, a refused command

The login runs over the network, for up to the check's timeout: not inside a step, whose
transaction (on SQLite, the one writer) it would hold. The secret step seals the password
into the flow's data and returns a `Progress`; its background work logs in after the
commit and gives the flow the outcome as the input `{"check": outcome, "attempt": id}`.
A failure goes back to the step the person can fix, with an error key; the user name and
password are kept when only the server was wrong, so the corrected server is tried at
once. An outcome of an earlier attempt (the person typed again meanwhile) is ignored.
"""

from __future__ import annotations

import logging
import secrets
from typing import ClassVar

from pydantic import SecretStr

from core.flows.flow import Field, Flow, Input, secret_of
from core.flows.steps import Form, Progress, Step
from core.models import MailboxCreate
from core.permissions import Action, acting
from core.services.mailboxes import (
    CheckOutcome,
    MailboxCheck,
    MailboxTarget,
    add_mailbox,
    find_mailbox,
    parse_host,
    private_literal,
)
from core.vault import Vault

log = logging.getLogger(__name__)

#: Failures the server or the network answered: another server or port may do.
_BACK_TO_HOST = frozenset(
    {
        CheckOutcome.UNREACHABLE,
        CheckOutcome.TLS,
        CheckOutcome.HOST_REFUSED,
        CheckOutcome.SERVER_ERROR,
    }
)
#: Failures of the secret: another password (or app password) may do.
_BACK_TO_SECRET = frozenset({CheckOutcome.AUTH_FAILED, CheckOutcome.TOKEN_EXPIRED})
#: The check itself failed, for a reason on Courier's side (logged): try again.
CHECK_FAILED = "check_failed"
_LONGEST = 200
#: The folder a mailbox added from the chat is watched in.
_FOLDER = "INBOX"


class MailboxFlow(Flow):
    name = "mailbox"
    first = "host"
    requires: ClassVar[Action | None] = Action.MANAGE_MAILBOXES

    async def step_host(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self.form("host")
        typed = _typed(user_input, "host")
        found = parse_host(typed)
        if found is None:
            return self.form("host", error=self.error("host_bad", value=typed[:60]))
        host, port = found
        settings = self.context.service("settings")
        if not settings.mailbox_allow_private and private_literal(host):
            return self.form("host", error=self.error("host_refused", host=host))
        self.data.update(host=host, port=port)
        if "user" in self.data and "secret_sealed" in self.data:
            # Back here because the server did not do: the same login, on the new one.
            return self._check()
        return await self.step_user()

    async def step_user(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self.form("user", host=self.data["host"])
        user = _typed(user_input, "user")
        if not user or len(user) > _LONGEST:
            return self.form("user", error="user_bad", host=self.data["host"])
        if await find_mailbox(
            session=self.context.session,
            workspace_id=self.context.workspace_id,
            host=self.data["host"],
            username=user,
        ):
            return self.form(
                "user",
                error=self.error("already_watched", user=user, host=self.data["host"]),
                host=self.data["host"],
            )
        self.data["user"] = user
        self.data.pop("secret_sealed", None)
        return await self.step_secret()

    async def step_secret(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self._ask_secret()
        if user_input.get("option") == "change_user":
            return await self.step_user()
        secret = secret_of(user_input, "secret")
        if not secret:
            return self._ask_secret(error="secret_empty")
        vault: Vault = self.context.service("vault")
        # Sealed as the mailbox's own secret is: the flow keeps no secret in clear.
        self.data["secret_sealed"] = vault.seal(secret)
        return self._check()

    async def step_checking(self, user_input: Input | None = None) -> Step:
        if user_input is None or "check" not in user_input:
            # Typed or pressed while (or after) a check ran: a check whose outcome was lost
            # with its process must not leave the person waiting, so any input checks again.
            return self._check()
        if user_input.get("attempt") != self.data.get("attempt"):
            # An earlier check's outcome, overtaken by a later one.
            return self._checking()
        outcome = str(user_input["check"])
        if outcome == CheckOutcome.OK:
            return await self._add()
        user, host, port = self.data["user"], self.data["host"], self.data["port"]
        if outcome in _BACK_TO_HOST:
            return self.form("host", error=self.error(outcome, host=host, port=port, user=user))
        self.data.pop("secret_sealed", None)
        if outcome == CheckOutcome.FOLDER_MISSING:
            return self.form(
                "user", error=self.error(outcome, user=user, folder=_FOLDER), host=host
            )
        if outcome in _BACK_TO_SECRET:
            return self._ask_secret(error=outcome)
        return self._ask_secret(error=CHECK_FAILED)

    def _ask_secret(self, *, error: str | None = None) -> Form:
        user, host = self.data["user"], self.data["host"]
        options = (self.option("change_user"),) if error is not None else ()
        return self.form(
            "secret",
            Field("secret", "secret"),
            options=options,
            error=self.error(error, user=user, host=host) if error else None,
            user=user,
            host=host,
        )

    def _checking(self) -> Progress:
        return self.progress("checking", user=self.data["user"], host=self.data["host"])

    def _check(self) -> Progress:
        """Log in after this step commits; the outcome comes back as the next input."""
        check: MailboxCheck = self.context.service("mailbox_check")
        vault: Vault = self.context.service("vault")
        attempt = secrets.token_hex(4)
        self.data["attempt"] = attempt
        target = MailboxTarget(
            self.data["host"], int(self.data["port"]), self.data["user"], _FOLDER
        )
        sealed = str(self.data["secret_sealed"])

        async def work() -> Input:
            try:
                outcome = str(await check(target, SecretStr(vault.open(sealed))))
            except Exception:
                # Never a stuck "checking": the person is asked to try again.
                log.exception("the check of a new mailbox failed on %s", target.host)
                outcome = CHECK_FAILED
            return {"check": outcome, "attempt": attempt}

        self.later(work)
        return self._checking()

    async def _add(self) -> Step:
        session = self.context.session
        # Asked again now: the person's role may have changed while the check ran.
        by = await acting(session=session, member_id=self.context.member.id)
        vault: Vault = self.context.service("vault")
        mailbox = await add_mailbox(
            session=session,
            vault=vault,
            data=MailboxCreate(
                workspace_id=self.context.workspace_id,
                host=self.data["host"],
                port=int(self.data["port"]),
                username=self.data["user"],
                folder=_FOLDER,
                secret=SecretStr(vault.open(str(self.data["secret_sealed"]))),
            ),
            by=by,
        )
        return self.done("added", user=mailbox.username, host=mailbox.host)


def _typed(user_input: Input, name: str) -> str:
    """A form's field, or the text typed at it."""
    return str(user_input.get(name, user_input.get("text", "")) or "").strip()
