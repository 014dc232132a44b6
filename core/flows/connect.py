"""`connect`: add a supplier account, as the reference page's steps 5–8.

supplier (typed; picked from the results unless one is plainly meant) → owner (when the
workspace has several members) → login (an account already connected is said here, not
after the password) → password (sealed at once) → full history or a start date →
created, and verified in the background: the outcome comes back through the outbox.

A supplier Courier cannot log in to still has a way in, by mail (`no_connector`): the
workspace's forwarding address, the supplier's own setting for invoices by email where
the catalog knows it (core/catalog/mail_routes.json), and a button that starts the
mailbox flow, so that invoices reach the inbox from the person's own mailbox with no
forwarding at all.

The password reaches the flow as a SecretStr and is kept between steps only sealed by
the vault; the flow's data never holds it in clear.

A supplier that signs in by the owner's consent (OAuth: Google Ads) asks no password:
login (the account's ID) → start date → created waiting for the consent, and the chat
shows the supplier's consent address (`authorise`). The callback keeps the token and the
first run follows (core/services/supplier_sign_in.py).
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import SecretStr

from core.catalog.mail_routes import mail_route
from core.errors import ConnectionDuplicate, DateInvalid, NotAllowed
from core.flows.flow import Field, Flow, Input, secret_of
from core.flows.manager import HANDOVER
from core.flows.steps import Choice, Form, Option, Step, Text
from core.models import ConnectionCreate, Supplier, Workspace
from core.permissions import Action
from core.services.catalog import SupplierHit
from core.services.connection_controls import INTERACTIVE_FOR
from core.services.connections import LOGIN_MAX, check_fetch_from, create_connection, login_taken
from core.services.fetch_claims import request_fetch
from core.services.members import list_members
from core.services.supplier_sign_in import start_consent
from core.services.workspaces import inbox_address
from core.suppliers.oauth import OAuthSignIn

#: The button that hands the conversation to the mailbox flow (core/flows/mailbox.py).
WATCH_MAILBOX = f"{HANDOVER}mailbox"
#: How many suppliers a search offers.
RESULTS = 8
#: A hit at least this good is the name or an alias itself (or spelled alike)...
EXACT = 96.0
#: ...and one is plainly meant when no other hit comes close to it (a typo-level match
#: of another name is not close; a name starting with the query is: "edf" offers both
#: EDF and EDF Entreprises, whose portals are different accounts).
CLOSE = 70.0


def plainly_meant(hits: list[SupplierHit]) -> SupplierHit | None:
    """The one supplier the search leaves no doubt about, if any."""
    if len(hits) == 1:
        return hits[0]
    if hits and hits[0].score >= EXACT and all(hit.score < CLOSE for hit in hits[1:]):
        return hits[0]
    return None


def portal_kind(supplier: Supplier) -> str:
    return supplier.portal if supplier.portal in ("pro", "personal") else "both"


def refused(err: NotAllowed) -> Text:
    """Who may do what was refused (permissions.<action>), rather than a bare "no": the
    connection flows check in core, and say it in the permission table's words."""
    return Text(f"permissions.{err.params.get('action', '')}")


def consent_sign_in(flow: Flow, supplier_key: str) -> OAuthSignIn | None:
    """The supplier's sign-in by consent, when it has one (the interface's `sign_ins`)."""
    sign_ins = flow.context.services.get("sign_ins")
    return sign_ins.get(supplier_key) if sign_ins is not None else None


def read_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


class ConnectFlow(Flow):
    name = "connect"
    first = "start"
    requires: ClassVar[Action | None] = Action.ADD_CONNECTION

    async def step_start(self, user_input: Input | None = None) -> Step:
        """`/connect` alone asks for the supplier; `/connect demo` searches at once."""
        query = str((user_input or {}).get("supplier") or "").strip()
        if query:
            return await self.step_supplier({"supplier": query})
        return await self._ask_supplier()

    async def _ask_supplier(self, error: Text | None = None) -> Form:
        workspace = await self.context.session.get(Workspace, self.context.workspace_id)
        name = workspace.name if workspace is not None else ""
        return self.form("supplier", Field("supplier"), error=error, workspace=name)

    async def step_supplier(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return await self._ask_supplier()
        query = str(user_input.get("supplier") or user_input.get("text") or "").strip()
        search = self.context.service("search")
        hits: list[SupplierHit] = search.search(query, limit=RESULTS) if query else []
        if not hits:
            return await self._ask_supplier(self.error("no_match", query=query[:60]))
        meant = plainly_meant(hits)
        if meant is not None:
            assert meant.supplier.id is not None
            return await self._picked(meant.supplier.id)
        self.data["hits"] = [hit.supplier.id for hit in hits]
        options = tuple(
            self.option(
                f"s{hit.supplier.id}",
                f"supplier_{portal_kind(hit.supplier)}",
                name=hit.supplier.name,
            )
            for hit in hits
        )
        return self.choice("results", (*options, self.option("cancel")))

    async def step_results(self, user_input: Input | None = None) -> Step:
        """A pick among the results; typing searches again."""
        if user_input is None or "option" not in user_input:
            return await self.step_supplier(user_input)
        picked = str(user_input["option"])
        if picked == "cancel":
            return self.abort(Text("common.cancelled"))
        offered = [int(ident) for ident in self.data.get("hits", [])]
        ident = int(picked[1:]) if picked.startswith("s") and picked[1:].isdigit() else 0
        if ident not in offered:
            return await self._ask_supplier(self.error("pick_again"))
        return await self._picked(ident)

    async def _picked(self, supplier_id: int) -> Step:
        session = self.context.session
        supplier = await session.get(Supplier, supplier_id)
        if supplier is None or not supplier.listed:
            return await self._ask_supplier(self.error("pick_again"))
        if not supplier.connector_available:
            return await self._way_in(supplier)
        self.data.pop("hits", None)
        sign_in = consent_sign_in(self, supplier.key)
        if sign_in is not None and not sign_in.registered:
            # Said before any question: no answer of the person's could get past it.
            return self.abort("not_configured", supplier=supplier.name)
        self.data.update(
            supplier_id=supplier_id,
            supplier=supplier.name,
            portal=portal_kind(supplier),
            community=supplier.connector_kind == "community",
        )
        if sign_in is not None:
            self.data.update(consent=supplier.key, portal="consent")
        members = await list_members(session=session, workspace_id=self.context.workspace_id)
        if len(members) == 1:
            self.data["owner_id"] = members[0].id
            return self._ask_login()
        return await self._ask_owner()

    async def _way_in(self, supplier: Supplier) -> Choice:
        """No connector: how this supplier's invoices still reach the inbox, by mail."""
        self.data.pop("hits", None)
        workspace = await self.context.session.get(Workspace, self.context.workspace_id)
        assert workspace is not None
        address = inbox_address(workspace, self.context.service("settings").mail_domain)
        name = supplier.name
        details: list[Text] = []
        route = mail_route(supplier.key)
        if route is not None and route.setting is not None:
            details.append(self.text("way_in.setting", supplier=name, setting=route.setting))
        elif route is not None and route.by_default:
            details.append(self.text("way_in.by_default", supplier=name))
        details.append(self.text("way_in.forward", address=address))
        options: list[Option] = []
        # Only those who may add a mailbox get the button; the others are told the address.
        if self.context.actor.may(Action.MANAGE_MAILBOXES):
            details.append(self.text("way_in.mailbox"))
            options.append(self.option(WATCH_MAILBOX, "mailbox"))
        options += [self.option("other_supplier"), self.option("cancel")]
        return self.choice(
            "no_connector", tuple(options), details=tuple(details), supplier=name, address=address
        )

    async def step_no_connector(self, user_input: Input | None = None) -> Step:
        """After the way in by mail: another supplier (typed or asked), or done."""
        if user_input is None or "option" not in user_input:
            return await self.step_supplier(user_input)
        if user_input["option"] == "cancel":
            return self.abort(Text("common.cancelled"))
        # "Another supplier", or a mailbox button the manager did not hand over.
        return await self._ask_supplier()

    async def _ask_owner(self, error: Text | None = None) -> Step:
        members = await list_members(
            session=self.context.session, workspace_id=self.context.workspace_id
        )
        options = tuple(
            self.option(f"m{member.id}", "member", name=member.display_name) for member in members
        )
        return self.choice("owner", options, error=error, supplier=str(self.data["supplier"]))

    async def step_owner(self, user_input: Input | None = None) -> Step:
        picked = str((user_input or {}).get("option") or "")
        ident = int(picked[1:]) if picked.startswith("m") and picked[1:].isdigit() else 0
        members = await list_members(
            session=self.context.session, workspace_id=self.context.workspace_id
        )
        if ident not in {member.id for member in members}:
            return await self._ask_owner(self.error("pick_owner"))
        self.data["owner_id"] = ident
        return self._ask_login()

    def _ask_login(self, error: Text | None = None) -> Form:
        supplier = str(self.data["supplier"])
        prompt = self.text(f"login_{self.data.get('portal', 'both')}", supplier=supplier)
        # A woob module is said to be one before the owner gives a password for it.
        community = (
            (self.text("community", supplier=supplier),) if self.data.get("community") else ()
        )
        return Form(
            self.name,
            "login",
            prompt,
            (Field("login"),),
            (self.option("other_supplier"),),
            error,
            details=community,
        )

    async def step_login(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self._ask_login()
        if user_input.get("option") == "other_supplier":
            for key in ("supplier_id", "supplier", "portal", "owner_id", "consent", "community"):
                self.data.pop(key, None)
            return await self._ask_supplier()
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
        )
        if taken is not None:
            return self._already_connected(login)
        self.data["login"] = login
        if self.data.get("consent"):
            return self._ask_history()  # no password: the owner consents at the supplier
        return self._ask_password()

    def _already_connected(self, login: str) -> Form:
        return self._ask_login(
            self.error("already_connected", supplier=str(self.data["supplier"]), login=login)
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
        # Sealed at once: the flow's row (and any log of it) only ever holds the sealed form.
        self.data["password_sealed"] = self.context.service("vault").seal(secret)
        return self._ask_history(note=self.text("password_kept"))

    def _ask_history(self, *, error: Text | None = None, note: Text | None = None) -> Form:
        return self.form(
            "history",
            Field("since", "date"),
            options=(self.option("full"),),
            error=error,
            note=note,
            supplier=str(self.data["supplier"]),
        )

    async def step_history(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self._ask_history()
        if user_input.get("option") == "full":
            return await self._create(None)
        typed = str(user_input.get("since") or user_input.get("text") or "").strip()
        start_on = read_date(typed)
        if start_on is None:
            return self._ask_history(error=self.error("date_bad", value=typed[:40]))
        try:
            check_fetch_from(start_on, today=self.context.now.date())
        except DateInvalid:
            return self._ask_history(error=self.error("date_future", value=start_on.isoformat()))
        return await self._create(start_on)

    async def _create(self, start_on: date | None) -> Step:
        session = self.context.session
        vault = self.context.service("vault")
        login = str(self.data["login"])
        supplier = str(self.data["supplier"])
        consent = str(self.data.get("consent") or "")
        sealed = self.data.get("password_sealed")
        try:
            async with session.begin_nested():
                connection = await create_connection(
                    session=session,
                    vault=vault,
                    by=self.context.member,
                    data=ConnectionCreate(
                        workspace_id=self.context.workspace_id,
                        supplier_id=int(self.data["supplier_id"]),
                        owner_member_id=int(self.data["owner_id"]),
                        login=login,
                        password=SecretStr(vault.open(str(sealed)) if sealed else ""),
                        fetch_from=start_on,
                    ),
                    now=self.context.now,
                    awaiting_consent=bool(consent),
                )
        except ConnectionDuplicate:
            # Connected by someone else since the login step: back to it, password forgotten.
            for key in ("login", "password_sealed"):
                self.data.pop(key, None)
            return self._already_connected(login)
        self.data.pop("password_sealed", None)
        sign_in = consent_sign_in(self, consent) if consent else None
        if sign_in is not None:
            url = await start_consent(
                session=session,
                sign_in=sign_in,
                connection=connection,
                member_id=self.context.member.id,
                redirect_uri=self.context.service("settings").oauth_callback_url,
                now=self.context.now,
            )
            return self.done("authorise", supplier=supplier, login=login, url=url)
        request_fetch(connection, interactive_for=INTERACTIVE_FOR, now=self.context.now)
        connection_id = connection.id
        assert connection_id is not None
        runs = self.context.service("runs")

        async def verify() -> None:
            runs.start(connection_id, announce=True)

        self.later(verify)
        return self.done("started", supplier=supplier, login=login)
