"""The gateway's server, run inside the application's own event loop.

aiosmtpd's `Controller` runs a loop in a thread of its own; `loop.create_server` keeps
the gateway in Courier's loop, beside the worker that reads what it accepts.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, syntax

from core.config import Settings
from mail.smtp.data import read_data
from mail.smtp.handler import GatewayHandler

log = logging.getLogger(__name__)

# aiosmtpd logs each command line at INFO, AUTH's base64 credentials included.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with Courier's limits."""

    # Real senders write lines longer than RFC 5321's 1,000 octets (HTML on one line).
    line_length_limit = 64 * 1024
    command_size_limit = 4096

    def __init__(self, handler: GatewayHandler, *, sessions: SessionCap, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sessions = sessions
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._sessions.enter():
            # Past the cap, say so and hang up: the sender retries later, nothing is lost.
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        self._counted = True
        super().connection_made(transport)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with a faster reader (see mail/smtp/data.py); the checks and
        replies are aiosmtpd's own."""
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
        data = await read_data(self._reader, limit=self.data_size_limit)
        if data.content is None:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        self.envelope.content = self.envelope.original_content = data.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._sessions.leave()
            self._counted = False
        if self.transport is not None or self._handler_coroutine is not None:
            super().connection_lost(error)


@dataclass(slots=True)
class SessionCap:
    limit: int
    active: int = 0

    def enter(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1


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
    sessions = sessions or SessionCap(limit=settings.smtp_max_sessions)
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
        "auth_required": False,
        # Without TLS, AUTH is only offered when explicitly configured on a trusted network.
        "auth_require_tls": tls is not None,
    }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: GatewaySMTP(handler, sessions=sessions, **options),
        host=settings.smtp_host,
        port=settings.smtp_port,
    )
    gateway = GatewayServer(server=server, sessions=sessions)
    log.info("SMTP gateway listening on %s:%d", settings.smtp_host, gateway.port)
    return gateway
