"""The gateway's server, run inside the application's own event loop.

aiosmtpd's `Controller` runs a loop in a thread of its own; `loop.create_server` keeps
the gateway in Courier's loop, beside the worker that reads what it accepts.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, syntax

from core.config import Settings
from mail.smtp.data import read_data
from mail.smtp.handler import GatewayHandler
from mail.smtp.logsafe import guard

log = logging.getLogger(__name__)

# aiosmtpd logs each command line at INFO, AUTH's base64 credentials included.
logging.getLogger("mail.log").setLevel(logging.WARNING)
# Its warnings quote what clients send (an unknown command); ours quote nothing of theirs.
guard("mail.log", __name__)

SESSION_TOO_LONG = b"421 4.4.2 Session too long, closing; come back in a new one\r\n"
DATA_TOO_SLOW = "421 4.4.2 Message took too long to arrive, closing"
_NO_AUTH = ("LOGIN", "PLAIN")


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with Courier's limits."""

    # Real senders write lines longer than RFC 5321's 1,000 octets (HTML on one line).
    line_length_limit = 64 * 1024
    command_size_limit = 4096

    def __init__(
        self,
        handler: GatewayHandler,
        *,
        sessions: SessionCap,
        limits: SessionLimits,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self._sessions = sessions
        self._limits = limits
        self._offers_auth = kwargs.get("authenticator") is not None
        self._peer_ip: str | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._in_ehlo = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._peer_ip is not None:  # STARTTLS: the same session, counted once already
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self._sessions.enter(ip):
            # Past a cap, say so and hang up: the sender retries later, nothing is lost.
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        self._peer_ip = ip
        # The idle timeout restarts with every command: a NOOP every few seconds would keep
        # a session, and its place under the caps, forever. This one never restarts.
        self._expiry = asyncio.get_running_loop().call_later(
            self._limits.session_seconds, self._expire
        )
        super().connection_made(transport)

    def _expire(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(SESSION_TOO_LONG)
            transport.close()

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        # aiosmtpd lists AUTH even with no authenticator to check it: see `push`.
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    async def push(self, status: AnyStr) -> None:
        line = status.decode() if isinstance(status, bytes) else status
        if self._in_ehlo and not self._offers_auth and line.startswith("250-AUTH"):
            return
        await super().push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with a faster reader (see mail/smtp/data.py) and a deadline for
        the whole section; the checks and replies are aiosmtpd's own."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            # A byte now and then would otherwise hold the session for as long as the
            # idle timeout allows, after each byte.
            data = await asyncio.wait_for(
                read_data(self._reader, limit=self.data_size_limit),
                timeout=self._limits.data_seconds,
            )
        except TimeoutError:
            await self.push(DATA_TOO_SLOW)
            assert self.transport is not None
            self.transport.close()
            return
        if data.content is None:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        self.envelope.content = self.envelope.original_content = data.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    def connection_lost(self, error: Exception | None) -> None:
        if self._peer_ip is not None:
            self._sessions.leave(self._peer_ip)
            self._peer_ip = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self.transport is not None or self._handler_coroutine is not None:
            super().connection_lost(error)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """How long a session, and the DATA section within it, may last, in seconds."""

    session_seconds: float
    data_seconds: float


@dataclass(slots=True)
class SessionCap:
    """Sessions open at once: in all, and from one address."""

    limit: int
    per_ip: int | None = None
    active: int = 0
    by_ip: dict[str, int] = field(default_factory=dict)

    def enter(self, ip: str) -> bool:
        if self.active >= self.limit:
            return False
        if self.per_ip is not None and self.by_ip.get(ip, 0) >= self.per_ip:
            return False
        self.active += 1
        self.by_ip[ip] = self.by_ip.get(ip, 0) + 1
        return True

    def leave(self, ip: str) -> None:
        self.active -= 1
        left = self.by_ip.get(ip, 0) - 1
        if left > 0:
            self.by_ip[ip] = left
        else:
            self.by_ip.pop(ip, None)


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.smtp_tls_cert is None or settings.smtp_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.smtp_tls_cert, settings.smtp_tls_key)
    return context


def _authenticator(settings: Settings) -> Any:
    user, secret = settings.smtp_auth_user, settings.smtp_auth_password
    if user is None or secret is None:
        return None
    import hmac

    expected_user, expected_password = user.encode(), secret.get_secret_value().encode()

    def authenticate(
        server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = hmac.compare_digest(data.login, expected_user) & hmac.compare_digest(
            data.password, expected_password
        )
        return AuthResult(success=bool(ok), handled=False)

    return authenticate


@dataclass(slots=True)
class GatewayServer:
    server: asyncio.Server
    sessions: SessionCap

    @property
    def port(self) -> int:
        sockets = self.server.sockets
        return int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_gateway(
    settings: Settings, handler: GatewayHandler, *, sessions: SessionCap | None = None
) -> GatewayServer:
    sessions = sessions or SessionCap(
        limit=settings.smtp_max_sessions, per_ip=settings.smtp_max_sessions_per_ip
    )
    limits = SessionLimits(
        session_seconds=settings.smtp_session_seconds, data_seconds=settings.smtp_data_seconds
    )
    tls = _tls_context(settings)
    authenticator = _authenticator(settings)
    options: dict[str, Any] = {
        "data_size_limit": settings.mail_max_bytes,
        "enable_SMTPUTF8": True,
        "decode_data": False,
        # The default, socket.getfqdn(), blocks the loop on a DNS query.
        "hostname": settings.greeting_hostname,
        "ident": "Courier",
        "timeout": settings.smtp_timeout_seconds,
        "tls_context": tls,
        "require_starttls": False,
        "authenticator": authenticator,
        # With nothing to check credentials against, AUTH is neither offered nor accepted.
        "auth_exclude_mechanism": _NO_AUTH if authenticator is None else (),
        "auth_required": False,
        # Without TLS, AUTH is only offered when explicitly configured on a trusted network.
        "auth_require_tls": tls is not None,
    }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: GatewaySMTP(handler, sessions=sessions, limits=limits, **options),
        host=settings.smtp_host,
        port=settings.smtp_port,
    )
    gateway = GatewayServer(server=server, sessions=sessions)
    log.info("SMTP gateway listening on %s:%d", settings.smtp_host, gateway.port)
    return gateway
