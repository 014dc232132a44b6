"""Linking the accounting software, or the same books again (reconnect).

Pick the software among those this installation offers (their own metadata says which,
and how each signs in), then sign in:
- a ledger file (Beancount): picked from the workspace's folder under the ledger root,
  named by typing, created there, or sent as a file; never a path opened as typed;
- a token (Pennylane): a secret field, kept only in the work's closure;
- OAuth (Xero, QuickBooks): the authorisation address; the callback brings the person
  back with `/start integration_<id>`.
The check runs after the commit (`checking`); what fails comes back to the step where it
can be put right, with its error: a ledger that will not load asks for another ledger.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.accounting.ledger_folder import LedgerFolder
from core.accounting.provider import AuthKind, ProviderInfo
from core.flows.flow import Field, Input, step_method
from core.flows.integration_base import IntegrationBase, _error
from core.flows.integration_jobs import linking
from core.flows.steps import Choice, Option, Step
from core.models import Workspace

log = logging.getLogger(__name__)

#: Ledgers offered as buttons; more can still be named by typing their name.
LISTED_LEDGERS = 20


class LinkSteps(IntegrationBase):
    # --- which software ------------------------------------------------------------------

    async def step_software(self, user_input: Input | None = None) -> Step:
        offers = self.offers()
        if user_input is None:
            options = (
                *(
                    Option(o.info.name, self.text("option.software", name=o.info.display_name))
                    for o in offers
                    if o.available
                ),
                self.option("cancel"),
            )
            missing = [o.info.display_name for o in offers if not o.available]
            note = self.text("unavailable", names=", ".join(missing)) if missing else None
            if self.data.get("purpose") == "change":
                prompt = self.text("change", software=self.data.get("software", ""))
            else:
                prompt = self.text("software")
            return Choice(self.name, "software", prompt, options, None, note, columns=2)
        if self.cancelled(user_input):
            return self.abort("cancelled")
        chosen = next((o for o in offers if o.info.name == user_input.get("option")), None)
        if chosen is None:
            return self.again(await self.step_software(), "choose")
        if not chosen.available:
            log.info("%s is not offered: %s unset", chosen.info.name, ", ".join(chosen.missing))
            error = self.error("not_configured", software=chosen.info.display_name)
            return self.again(await self.step_software(), error)
        self.data.setdefault("purpose", "connect")
        self.data.update(provider=chosen.info.name, chosen=chosen.info.display_name)
        return await self._sign_in(chosen.info)

    async def _sign_in(self, info: ProviderInfo) -> Step:
        if info.auth_kind == AuthKind.LOCAL_FILE:
            return await self.step_ledger()
        if info.auth_kind == AuthKind.TOKEN:
            return await self.step_token()
        self.data["sign_in"] = "software" if self.data["purpose"] != "reconnect" else "status"
        return self._check(secret=None)

    # --- a ledger ---------------------------------------------------------------------------

    async def _folder(self) -> LedgerFolder:
        """The workspace's folder under the ledger root (made on first use)."""
        workspace = await self.context.session.get(Workspace, self.context.workspace_id)
        assert workspace is not None
        settings = self.context.service("settings")
        return await LedgerFolder.open(root=settings.ledgers_dir, slug=workspace.slug)

    async def step_ledger(self, user_input: Input | None = None) -> Step:
        folder = await self._folder()
        if user_input is None:
            names = (await folder.names())[:LISTED_LEDGERS]
            self.data["ledgers"] = names
            options = (
                *(
                    Option(f"l{i}", self.text("option.ledger", name=name))
                    for i, name in enumerate(names)
                ),
                self.option("new", "new_ledger"),
                self.option("cancel"),
            )
            return self.form("ledger", Field("ledger"), options=options)
        if self.cancelled(user_input):
            return self.abort("cancelled")
        if user_input.get("option") == "new":
            return await self.step_new_ledger()
        refused = dict(user_input.get("file") or {}).get("refused")
        if refused:
            # Too big for a ledger, or Telegram would not hand the file over.
            error = "too_big" if refused == "too_big" else "file_unreachable"
            return self.again(await self.step_ledger(), error)
        path = await self._ledger(folder, user_input)
        if path is None:
            return self.again(await self.step_ledger(), "choose")
        self.data["sign_in"] = "ledger"
        return self._check(secret=str(path))

    async def _ledger(self, folder: LedgerFolder, user_input: Input) -> Path | None:
        """The ledger the input names (a press, a name typed, a file sent), resolved in the
        workspace's folder; its failures are raised, and shown at this step."""
        if "file" in user_input:
            sent: dict[str, Any] = dict(user_input["file"])
            path = await folder.receive(str(sent["name"]), bytes(sent["content"]))
            # Ours until it is linked: a copy that fails the check is taken back, so the
            # corrected file can be sent under the same name.
            self.data["received"] = path.name
            return path
        option = str(user_input.get("option") or "")
        names: list[str] = list(self.data.get("ledgers") or [])
        if option[:1] == "l" and option[1:].isdigit() and int(option[1:]) < len(names):
            return await folder.locate(names[int(option[1:])])
        typed = user_input.get("ledger")
        if isinstance(typed, str) and typed:
            return await folder.locate(typed[:200])
        return None

    async def step_new_ledger(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self.form("new_ledger", options=(self.option("cancel"),))
        if self.cancelled(user_input):
            return self.abort("cancelled")
        name = user_input.get("new_ledger")
        if not isinstance(name, str) or not name:
            return self.again(await self.step_new_ledger(), "choose")
        workspace = await self.context.session.get(Workspace, self.context.workspace_id)
        assert workspace is not None
        path = await (await self._folder()).create(name[:200], title=workspace.name)
        self.data["sign_in"] = "new_ledger"
        return self._check(secret=str(path))

    # --- a token ----------------------------------------------------------------------------

    async def step_token(self, user_input: Input | None = None) -> Step:
        software = str(self.data.get("chosen", ""))
        if user_input is None:
            return self.form(
                "token",
                Field("token", "secret"),
                options=(self.option("cancel"),),
                software=software,
            )
        if self.cancelled(user_input):
            return self.abort("cancelled")
        token = user_input.get("token")
        secret = token.get_secret_value().strip() if isinstance(token, SecretStr) else ""
        if not secret:
            return self.again(await self.step_token(), "token_empty")
        self.data["sign_in"] = "token"
        return self._check(secret=secret)

    # --- the check, after the commit --------------------------------------------------------

    def _check(self, *, secret: str | None) -> Step:
        software = str(self.data.get("chosen", ""))
        self.later(
            linking(
                self.context,
                purpose=str(self.data["purpose"]),
                provider=str(self.data["provider"]),
                software=software,
                secret=secret,
            )
        )
        return self.progress("checking", software=software)

    async def step_checking(self, user_input: Input | None = None) -> Step:
        software = str(self.data.get("chosen", ""))
        outcome = (user_input or {}).get("outcome")
        if outcome == "linked":
            purpose = str(self.data.pop("purpose", "connect"))
            for done in ("provider", "ledgers", "sign_in", "received"):
                self.data.pop(done, None)
            return await self.after_link(purpose, software)
        if outcome == "authorise":
            assert user_input is not None
            return self.done("authorise", software=software, url=str(user_input["url"]))
        if outcome == "failed":
            await self._drop_received()
            back = str(self.data.get("sign_in") or "software")
            return self.again(await step_method(self, back)(None), _error(user_input))
        return self.progress("checking", software=software)

    async def _drop_received(self) -> None:
        name = self.data.pop("received", None)
        if name:
            folder = await self._folder()
            await asyncio.to_thread((folder.path / str(name)).unlink, missing_ok=True)

    async def after_link(self, purpose: str, software: str) -> Step:
        """Where a link that worked leads: its status, saying what happened."""
        key = "reconnected" if purpose == "reconnect" else "linked"
        return await self.step_status(note=self.text(key, software=software))

    # --- reconnect, from the menu or an expiry alert ------------------------------------------

    async def reconnect(self) -> Step:
        provider = str(self.data.get("linked", ""))
        offer = self.providers().offer(provider)
        self.data.update(purpose="reconnect", provider=provider, chosen=offer.info.display_name)
        self.data["sign_in"] = "status"
        if not offer.available:
            error = self.error("not_configured", software=offer.info.display_name)
            return self.again(await self.step_status(), error)
        if offer.info.auth_kind == AuthKind.TOKEN:
            return await self.step_token()
        return self._check(secret=None)  # a ledger: the same file; OAuth: its address

    async def menu(self, option: str) -> Step:
        if option == "reconnect":
            return await self.reconnect()
        return await super().menu(option)
