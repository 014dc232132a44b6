"""The demo supplier's web app: login with CSRF, 2FA, terms, paginated invoices and PDFs.

It is both the product's demo ("connect a supplier" works offline) and the target of the
connector tests, which switch faults on through `RunningDemo.inject`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from courier.demo_supplier import pages
from courier.demo_supplier.config import DemoAccount, DemoConfig
from courier.demo_supplier.mailer import send_code
from courier.demo_supplier.pdf import invoice_pdf
from courier.demo_supplier.state import DemoState, SentCode, Session

STATE: web.AppKey[DemoState] = web.AppKey("state", DemoState)
SESSION_COOKIE = "demo_session"
CSRF_COOKIE = "demo_csrf"
DEVICE_COOKIE = "demo_device"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _html(body: str, *, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    state.requests.append(f"{request.method} {request.path_qs}")
    faults = state.faults
    if faults.paths and not request.path.startswith(faults.paths):
        return await handler(request)
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.stall_seconds:
        # Waits on the closing event, so stopping the demo never waits for a stalled reply.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.closing.wait(), faults.stall_seconds)
    if state.rate_limits_served < faults.rate_limits:
        state.rate_limits_served += 1
        return web.Response(
            text="Trop de requêtes", status=429, headers={"Retry-After": str(faults.retry_after)}
        )
    if state.server_errors_served < faults.server_errors:
        state.server_errors_served += 1
        return _html(pages.message_page("Erreur", "Le service est indisponible."), status=500)
    return await handler(request)


def _csrf_token(request: web.Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)


def _with_csrf(response: web.Response, token: str) -> web.Response:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Lax")
    return response


async def _form(request: web.Request) -> dict[str, str] | None:
    """The posted fields, or None when the CSRF token is missing or does not match."""
    posted = await request.post()
    fields = {key: value for key, value in posted.items() if isinstance(value, str)}
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not secrets.compare_digest(cookie, fields.get("csrf_token", "")):
        return None
    return fields


def _forbidden() -> web.Response:
    message = "Jeton de sécurité manquant ou invalide. Rechargez la page et réessayez."
    return _html(pages.message_page("Accès refusé", message), status=403)


def _session(request: web.Request) -> Session | None:
    return request.app[STATE].session(request.cookies.get(SESSION_COOKIE))


def _account(request: web.Request, session: Session) -> DemoAccount:
    account = request.app[STATE].account(session.login)
    assert account is not None  # sessions are only opened for known accounts
    return account


def _after_login(state: DemoState, login: str) -> str:
    if state.faults.terms_to_accept and login not in state.accepted_terms:
        return "/terms"
    return "/invoices"


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/invoices")


async def login_form(request: web.Request) -> web.StreamResponse:
    token = _csrf_token(request)
    changed = request.app[STATE].faults.changed_login_page
    return _with_csrf(_html(pages.login_page(token, changed=changed)), token)


async def login_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    fields = await _form(request)
    if fields is None:
        return _forbidden()
    changed = state.faults.changed_login_page
    login_name, password_name = ("identifiant", "secret") if changed else ("email", "password")
    account = state.account(fields.get(login_name, ""))
    if account is None or not secrets.compare_digest(
        fields.get(password_name, "").encode(), account.password.encode()
    ):
        error = "Identifiant ou mot de passe incorrect."
        return _html(pages.login_page(fields["csrf_token"], error=error, changed=changed))
    remembered = state.device_known(request.cookies.get(DEVICE_COOKIE), account.login)
    needs_code = account.two_factor != "none" and not remembered
    token = state.open_session(account.login, authenticated=not needs_code)
    if needs_code and account.two_factor == "app":
        state.new_approval(state.sessions[token])  # the phone app shows it at once
    elif needs_code:
        challenge = state.new_challenge(state.sessions[token])
        await _deliver(state, account, challenge.code)
    response = web.HTTPFound("/verify" if needs_code else _after_login(state, account.login))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax")
    raise response


async def _deliver(state: DemoState, account: DemoAccount, code: str) -> None:
    if account.two_factor == "email":
        state.sent_codes.append(SentCode(account.login, code, "email", account.email))
        ttl = int(state.config.code_ttl.total_seconds() // 60)
        await send_code(state.config.smtp, to=account.email, code=code, ttl_minutes=ttl)
    else:  # the demo has no SMS gateway: the code is recorded, and GET /phone shows it
        state.sent_codes.append(SentCode(account.login, code, "sms", account.phone))


def _destination(account: DemoAccount) -> str:
    if account.two_factor == "app":
        return f"sur l'application du téléphone {pages.mask_phone(account.phone)}"
    if account.two_factor == "email":
        return f"par e-mail à {pages.mask_email(account.email)}"
    return f"par SMS au {pages.mask_phone(account.phone)}"


#: How many texts the pretend phone keeps on screen.
PHONE_TEXTS = 10


async def phone(request: web.Request) -> web.StreamResponse:
    """The pretend phone the "SMS" codes go to, so a person can finish an SMS login by hand."""
    sent = [c for c in request.app[STATE].sent_codes if c.channel == "sms"]
    texts = [(c.destination, c.login, c.code) for c in reversed(sent[-PHONE_TEXTS:])]
    return _html(pages.phone_page(texts))


async def verify_form(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    if session is None or session.authenticated:
        raise web.HTTPFound("/login")
    token = _csrf_token(request)
    account = _account(request, session)
    if session.approval is not None:
        return _with_csrf(_approval(request, session, account, token), token)
    page = pages.verify_page(token, _destination(account))
    return _with_csrf(_html(page), token)


def _approval(
    request: web.Request, session: Session, account: DemoAccount, csrf: str
) -> web.Response:
    """The page the browser reloads while the phone decides."""
    state, approval = request.app[STATE], session.approval
    assert approval is not None
    if approval.approved is None and approval.expires_at > state.now():
        return _html(pages.approval_page(_destination(account)))
    if approval.approved:
        session.authenticated, session.approval = True, None
        response = web.HTTPFound(_after_login(state, account.login))
        # Approving on the phone trusts this browser, as "remember this device" does.
        max_age = int(state.config.device_ttl.total_seconds())
        device = state.remember_device(account.login)
        response.set_cookie(DEVICE_COOKIE, device, max_age=max_age, httponly=True, samesite="Lax")
        raise response
    state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    error = (
        "La connexion a été refusée depuis l'application."
        if approval.approved is False
        else "La demande de connexion a expiré. Reconnectez-vous."
    )
    changed = state.faults.changed_login_page
    return _html(pages.login_page(csrf, error=error, changed=changed))


async def app_decision(request: web.Request) -> web.StreamResponse:
    """The phone app's call when the owner taps approve or deny (no browser, no CSRF)."""
    posted = await request.post()
    login, decision = str(posted.get("login", "")), str(posted.get("decision", "approve"))
    if decision not in {"approve", "deny"}:
        return web.json_response({"error": "decision is approve or deny"}, status=400)
    decided = request.app[STATE].decide_approvals(login, approve=decision == "approve")
    if not decided:
        return web.json_response({"error": "no login awaits an approval"}, status=404)
    return web.json_response({"decided": decided})


async def verify_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    fields = await _form(request)
    if fields is None:
        return _forbidden()
    session, csrf = _session(request), fields["csrf_token"]
    if session is None or session.authenticated or session.challenge is None:
        raise web.HTTPFound("/login")
    account, challenge = _account(request, session), session.challenge
    if challenge.expires_at <= state.now():
        error = "Ce code a expiré. Reconnectez-vous pour en recevoir un nouveau."
        return _html(pages.verify_page(csrf, _destination(account), error=error))
    if not secrets.compare_digest(fields.get("code", "").strip(), challenge.code):
        challenge.attempts += 1
        left = state.config.max_code_attempts - challenge.attempts
        if left <= 0:
            state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
            error = "Trop de tentatives. Reconnectez-vous."
            changed = state.faults.changed_login_page
            return _html(pages.login_page(csrf, error=error, changed=changed))
        error = f"Code incorrect. Il vous reste {left} essai(s)."
        return _html(pages.verify_page(csrf, _destination(account), error=error))
    session.authenticated, session.challenge = True, None
    response = web.HTTPFound(_after_login(state, account.login))
    if fields.get("remember_device"):
        max_age = int(state.config.device_ttl.total_seconds())
        device = state.remember_device(account.login)
        response.set_cookie(DEVICE_COOKIE, device, max_age=max_age, httponly=True, samesite="Lax")
    raise response


def _signed_in(request: web.Request) -> tuple[DemoState, Session]:
    session = _session(request)
    if session is None or not session.authenticated:
        raise web.HTTPFound("/login")
    return request.app[STATE], session


async def terms_form(request: web.Request) -> web.StreamResponse:
    _, session = _signed_in(request)
    token = _csrf_token(request)
    return _with_csrf(_html(pages.terms_page(token, _account(request, session).company)), token)


async def terms_submit(request: web.Request) -> web.StreamResponse:
    state, session = _signed_in(request)
    if await _form(request) is None:
        return _forbidden()
    state.accepted_terms.add(session.login)
    raise web.HTTPFound("/invoices")


async def invoice_list(request: web.Request) -> web.StreamResponse:
    state, session = _signed_in(request)
    if _after_login(state, session.login) == "/terms":
        raise web.HTTPFound("/terms")
    account = _account(request, session)
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    size = state.config.page_size
    invoices = sorted(account.invoices, key=lambda i: i.issued_on, reverse=True)
    body = pages.invoices_page(
        invoices[(page - 1) * size : page * size],
        company=account.company,
        page=page,
        has_next=len(invoices) > page * size,
        date_style=state.config.date_style,
        malformed=state.faults.malformed_html,
    )
    return _html(body)


async def invoice_file(request: web.Request) -> web.StreamResponse:
    state, session = _signed_in(request)
    account = _account(request, session)
    reference = request.match_info["reference"]
    invoice = next((i for i in account.invoices if i.reference == reference), None)
    if invoice is None:
        return _html(pages.message_page("Introuvable", "Cette facture n'existe pas."), status=404)
    if state.faults.html_instead_of_pdf:
        # Seen on real portals: an error page served with 200 under the invoice's URL.
        message = "Ce document est temporairement indisponible. Réessayez plus tard."
        return _html(pages.message_page("Erreur", message))
    return web.Response(
        body=invoice_pdf(invoice, customer=account.company),
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{reference}.pdf"'},
    )


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[STATE].sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    raise web.HTTPFound("/login")


def create_app(config: DemoConfig) -> web.Application:
    app = web.Application(middlewares=[inject_faults])
    app[STATE] = DemoState(config=config, faults=config.faults)
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_get("/verify", verify_form)
    app.router.add_post("/verify", verify_submit)
    app.router.add_get("/terms", terms_form)
    app.router.add_post("/terms", terms_submit)
    app.router.add_get("/invoices", invoice_list)
    app.router.add_get("/invoices/{reference}.pdf", invoice_file)
    app.router.add_get("/logout", logout)
    app.router.add_post("/app/approvals", app_decision)
    app.router.add_get("/phone", phone)
    return app
