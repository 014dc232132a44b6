"""The demo supplier's memory: sessions, pending codes, remembered devices and its clock.

Everything lives in one object per running app, so two demos in one test never share a
session. The clock can be moved forward by tests to expire codes and sessions.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from courier.demo_supplier.config import DemoAccount, DemoConfig, Faults


@dataclass(slots=True)
class Challenge:
    code: str
    expires_at: datetime
    attempts: int = 0


@dataclass(slots=True)
class Approval:
    """A login waiting for the phone app: None until the owner taps approve or deny."""

    expires_at: datetime
    approved: bool | None = None


@dataclass(slots=True)
class Session:
    login: str
    expires_at: datetime
    authenticated: bool = False  # False: the password was right, a code is awaited
    challenge: Challenge | None = None
    approval: Approval | None = None


@dataclass(slots=True)
class SentCode:
    login: str
    code: str
    channel: str  # "sms" or "email"
    destination: str


@dataclass(slots=True)
class DemoState:
    config: DemoConfig
    faults: Faults
    sessions: dict[str, Session] = field(default_factory=dict)
    devices: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # token → login
    accepted_terms: set[str] = field(default_factory=set)
    sent_codes: list[SentCode] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # "GET /invoices?page=2", for tests
    offset: timedelta = timedelta(0)
    server_errors_served: int = 0
    rate_limits_served: int = 0
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # ends stalled requests

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def account(self, login: str) -> DemoAccount | None:
        wanted = login.strip().casefold()
        return next((a for a in self.config.accounts if a.login.casefold() == wanted), None)

    def open_session(self, login: str, *, authenticated: bool) -> str:
        token = secrets.token_urlsafe(24)
        expires_at = self.now() + self.config.session_ttl
        self.sessions[token] = Session(login, expires_at, authenticated=authenticated)
        return token

    def session(self, token: str | None) -> Session | None:
        session = self.sessions.get(token or "")
        if session is None or session.expires_at <= self.now():
            return None
        return session

    def new_challenge(self, session: Session) -> Challenge:
        digits = self.config.code_digits
        code = f"{secrets.randbelow(10**digits):0{digits}d}"
        session.challenge = Challenge(code, self.now() + self.config.code_ttl)
        return session.challenge

    def new_approval(self, session: Session) -> Approval:
        session.approval = Approval(self.now() + self.config.approval_ttl)
        return session.approval

    def pending_approvals(self, login: str) -> list[Approval]:
        now = self.now()
        return [
            s.approval
            for s in self.sessions.values()
            if s.login == login
            and s.approval is not None
            and s.approval.approved is None
            and s.approval.expires_at > now
        ]

    def decide_approvals(self, login: str, *, approve: bool) -> int:
        """What the phone app does when the owner taps: every pending login of the account."""
        pending = self.pending_approvals(login)
        for approval in pending:
            approval.approved = approve
        return len(pending)

    def remember_device(self, login: str) -> str:
        token = secrets.token_urlsafe(24)
        self.devices[token] = (login, self.now() + self.config.device_ttl)
        return token

    def device_known(self, token: str | None, login: str) -> bool:
        entry = self.devices.get(token or "")
        return entry is not None and entry[0] == login and entry[1] > self.now()

    def last_code(self, login: str) -> str:
        """The last code "sent" to `login` (tests read SMS codes here)."""
        codes = [sent.code for sent in self.sent_codes if sent.login == login]
        if not codes:
            raise LookupError(f"no code was sent to {login}")
        return codes[-1]
