"""The contract between Courier and a supplier's site or API.

A connector logs in (which may end in "a code is needed" or "approve in your app"),
answers a code or polls the approval, lists the invoices issued since a date (and says
how many the site's list showed in all, `listed`), downloads one, and saves or restores
its session so a weekly run does not ask for 2FA each time. Every failure is one of the typed errors
below; `core.services.fetch` maps each to a connection state and a message key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from core.models import ChallengeChannel


@dataclass(frozen=True, slots=True)
class Credentials:
    login: str
    password: SecretStr


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """The site confirmed it sent a code (or asks for an app approval)."""

    channel: ChallengeChannel
    masked_destination: str | None = None
    prompt: str | None = None
    expires_in: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """The site asks the owner to approve the login in its phone app: nothing to type,
    the connector polls the site (`poll_approval`) until it says yes, no, or expires."""

    masked_destination: str | None = None
    prompt: str | None = None
    expires_in: timedelta | None = None


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account_label: str | None = None


#: Where a login (or a code) leads: signed in, or one more step for the owner.
SignInStep = LoggedIn | CodeRequest | ApprovalRequest


@dataclass(frozen=True, slots=True)
class InvoiceRef:
    """An invoice as the supplier lists it. `reference` is the supplier's own id."""

    reference: str
    issued_on: date
    amount: Decimal | None = None
    currency: str | None = None
    number: str | None = None
    subscription: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Download:
    content: bytes
    filename: str

    def __repr__(self) -> str:
        return f"Download(filename={self.filename!r}, size={len(self.content)})"


class SupplierConnector(Protocol):
    """One instance per run of one connection; not shared between connections."""

    async def restore(self, state: dict[str, Any]) -> bool:
        """Reuse a saved session; True if it is still logged in. Never asks for a code."""
        ...

    async def login(self, credentials: Credentials) -> SignInStep: ...

    async def submit_code(self, code: str) -> SignInStep:
        """A wrong code raises CodeRejected; the site may ask for another step."""
        ...

    async def poll_approval(self) -> SignInStep | None:
        """After an ApprovalRequest: None while the site still waits for the owner's
        phone; ApprovalDenied when the owner refused or the site gave up."""
        ...

    def invoices(self, since: date | None) -> AsyncIterator[InvoiceRef]: ...

    @property
    def listed(self) -> int | None:
        """Once `invoices()` has run to its end: how many invoices the site's list showed,
        whatever their date and whether Courier has them already. It is 0 only when the
        site lists no invoice at all; a connector that stops paging at `since` gives the
        rows on the pages it read (a lower bound). None: this connector cannot tell.

        It tells "the site lists nothing" (an alarm) from "nothing new in the window"
        (the usual week). A connector written before it existed has no such attribute;
        the runner reads it as None."""
        ...

    async def download(self, invoice: InvoiceRef) -> Download: ...

    async def save(self) -> dict[str, Any]:
        """The session to keep (cookies, tokens, "remember this device"), sealed at rest."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Attended(Protocol):
    """A connector that must know, before it signs in, whether someone is at the chat:
    a woob module asks for a code or an app only then, and otherwise says it needs the
    user instead of making the site send an SMS nobody reads."""

    def attended(self, interactive: bool) -> None: ...


class ConnectorError(Exception):
    """Base of a connector's typed failures. `key` is the message key; never a secret."""

    key = "connector_error"


class LoginRefused(ConnectorError):
    """Wrong login or password: no automatic retry until the credentials change."""

    key = "login_refused"


class CodeRejected(ConnectorError):
    key = "code_rejected"


class ApprovalDenied(ConnectorError):
    """The owner refused the login in the app, or the site's approval request ran out."""

    key = "approval_denied"


class ActionRequired(ConnectorError):
    """The user must act on the site: terms to accept, password expired, wrong portal."""

    key = "action_required"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SupplierUnavailable(ConnectorError):
    """Unreachable, 5xx, timeouts or 429: retried later with back-off."""

    key = "supplier_unavailable"

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class LayoutChanged(ConnectorError):
    """The page or the API answer was not understood: the site changed."""

    key = "layout_changed"


class InvalidDownload(ConnectorError):
    """What came back is not the document (an HTML error page served as invoice.pdf)."""

    key = "invalid_download"
