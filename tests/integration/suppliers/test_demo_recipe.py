"""RecipeConnector with the demo supplier's recipe, against the real demo over loopback.

One story per test: log in (with or without a code), list, download, come back a week
later with the saved session, and meet each fault a real portal throws.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import httpx
import pytest
from pydantic import SecretStr

from core.extraction.pdf import read_pdf
from core.models import ChallengeChannel
from core.suppliers.connector import (
    ActionRequired,
    ApprovalDenied,
    ApprovalRequest,
    CodeRejected,
    CodeRequest,
    Credentials,
    InvalidDownload,
    InvoiceRef,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SupplierUnavailable,
)
from core.suppliers.recipes import Recipe, RecipeConnector
from courier.demo_supplier import DemoAccount, RunningDemo
from mail.otp import find_code
from tests.integration.suppliers.conftest import APP, EMPTY, MAIL, PLAIN, SMS, SmtpSink

Connect = Callable[..., RecipeConnector]


def creds(account: DemoAccount, password: str | None = None) -> Credentials:
    return Credentials(account.login, SecretStr(password or account.password))


async def listed(connector: RecipeConnector, since: date | None = None) -> list[InvoiceRef]:
    return [ref async for ref in connector.invoices(since)]


async def signed_in(connect: Connect, account: DemoAccount = PLAIN) -> RecipeConnector:
    connector = connect()
    assert isinstance(await connector.login(creds(account)), LoggedIn)
    return connector


# -- the happy paths ---------------------------------------------------------------------


async def test_login_lists_every_page_and_downloads_readable_pdfs(
    connect: Connect, demo: RunningDemo
) -> None:
    connector = connect()
    outcome = await connector.login(creds(PLAIN))
    assert outcome == LoggedIn(account_label="Boulangerie Dupont")

    refs = await listed(connector)

    assert [r.reference for r in refs] == [i.reference for i in PLAIN.invoices]
    assert [r.issued_on for r in refs] == [i.issued_on for i in PLAIN.invoices]
    assert [r.amount for r in refs] == [i.amount for i in PLAIN.invoices]
    assert {r.currency for r in refs} == {"EUR"}
    assert {f"GET /invoices?page={n}" for n in (1, 2, 3)} <= set(demo.state.requests)
    for ref in refs[:3]:
        download = await connector.download(ref)
        assert download.content.startswith(b"%PDF-")
        assert download.filename == f"{ref.reference}.pdf"
        data = read_pdf(download.content)
        assert data.invoice_number is not None
        assert data.invoice_number.value == ref.reference
        assert data.total_incl_tax is not None
        assert data.total_incl_tax.value == ref.amount


async def test_iso_dates_and_an_empty_account(
    connect: Connect, demo: RunningDemo, recipe: Recipe
) -> None:
    demo.state.config = replace(demo.state.config, date_style="iso")
    iso_only = replace(recipe, invoices=replace(recipe.invoices, date_formats=("%Y-%m-%d",)))
    connector = connect(using=iso_only)
    await connector.login(creds(PLAIN))
    refs = await listed(connector)
    assert refs[0].issued_on == PLAIN.invoices[0].issued_on

    empty = await signed_in(connect, EMPTY)
    assert await listed(empty) == []


async def test_since_stops_paging_at_the_first_older_row(
    connect: Connect, demo: RunningDemo
) -> None:
    connector = await signed_in(connect)
    since = PLAIN.invoices[6].issued_on  # the 2nd row of page 2

    refs = await listed(connector, since)

    assert [r.reference for r in refs] == [i.reference for i in PLAIN.invoices[:7]]
    assert "GET /invoices?page=2" in demo.state.requests
    assert "GET /invoices?page=3" not in demo.state.requests


async def test_wrong_password_is_refused_without_echoing_it(connect: Connect) -> None:
    with pytest.raises(LoginRefused) as caught:
        await connect().login(creds(PLAIN, password="not-the-password"))
    assert "incorrect" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


# -- 2FA ---------------------------------------------------------------------------------


async def test_code_on_page_then_right_code(connect: Connect, demo: RunningDemo) -> None:
    connector = connect()

    request = await connector.login(creds(SMS))

    assert isinstance(request, CodeRequest)
    assert request.channel == ChallengeChannel.SMS
    assert request.masked_destination == "••••12"
    assert request.prompt is not None
    assert "SMS" in request.prompt
    assert request.expires_in == timedelta(minutes=10)
    assert isinstance(await connector.submit_code(demo.last_code(SMS.login)), LoggedIn)
    assert len(await listed(connector)) == 3


async def test_wrong_code_is_rejected_and_another_try_is_allowed(
    connect: Connect, demo: RunningDemo
) -> None:
    connector = connect()
    assert isinstance(await connector.login(creds(SMS)), CodeRequest)

    with pytest.raises(CodeRejected, match="incorrect"):
        await connector.submit_code("000000" if demo.last_code(SMS.login) != "000000" else "1")

    assert isinstance(await connector.submit_code(demo.last_code(SMS.login)), LoggedIn)


async def test_three_wrong_codes_lock_the_challenge(connect: Connect, demo: RunningDemo) -> None:
    connector = connect()
    await connector.login(creds(SMS))
    wrong = "1" + demo.last_code(SMS.login)  # seven digits: never right

    for _ in range(2):
        with pytest.raises(CodeRejected, match="incorrect"):
            await connector.submit_code(wrong)
    with pytest.raises(CodeRejected, match="Trop de tentatives"):
        await connector.submit_code(wrong)
    with pytest.raises(CodeRejected, match="no code is awaited"):
        await connector.submit_code(demo.last_code(SMS.login))


async def test_expired_code_is_rejected(connect: Connect, demo: RunningDemo) -> None:
    connector = connect()
    await connector.login(creds(SMS))
    demo.advance(timedelta(minutes=11))

    with pytest.raises(CodeRejected, match="expiré"):
        await connector.submit_code(demo.last_code(SMS.login))


async def test_code_by_email_is_mailed_over_smtp_and_accepted(
    connect: Connect, smtp_sink: SmtpSink
) -> None:
    connector = connect()

    request = await connector.login(creds(MAIL))

    assert isinstance(request, CodeRequest)
    assert request.channel == ChallengeChannel.EMAIL
    assert request.masked_destination == "•••@in.example.com"
    message = await smtp_sink.next_message()
    assert message["To"] == MAIL.email
    body = message.get_body(("plain",))
    assert body is not None
    code = find_code(str(message["Subject"]), body.get_content())
    assert code is not None
    assert isinstance(await connector.submit_code(code), LoggedIn)


async def test_saved_session_and_remembered_device_skip_the_code(
    connect: Connect, demo: RunningDemo
) -> None:
    first = connect()
    await first.login(creds(SMS))
    await first.submit_code(demo.last_code(SMS.login))
    saved = await first.save()
    codes_sent = len(demo.state.sent_codes)

    # A week later, the session is still open: no login at all.
    later = connect()
    assert await later.restore(saved) is True
    assert len(await listed(later)) == 3

    # The session expired, but the device is remembered: password only, no code.
    demo.expire_sessions()
    again = connect()
    assert await again.restore(saved) is False
    assert isinstance(await again.login(creds(SMS)), LoggedIn)
    assert len(demo.state.sent_codes) == codes_sent


async def test_without_remember_device_the_code_is_asked_again(
    connect: Connect, demo: RunningDemo
) -> None:
    first = connect(remember_device=False)
    await first.login(creds(SMS))
    await first.submit_code(demo.last_code(SMS.login))
    saved = await first.save()
    demo.expire_sessions()

    again = connect()
    assert await again.restore(saved) is False
    assert isinstance(await again.login(creds(SMS)), CodeRequest)


async def test_restore_with_nothing_saved_is_not_logged_in(connect: Connect) -> None:
    assert await connect().restore({}) is False


# -- faults ------------------------------------------------------------------------------


async def test_server_errors_are_retried_then_reported(connect: Connect, demo: RunningDemo) -> None:
    demo.inject(server_errors=1)
    assert isinstance(await connect().login(creds(PLAIN)), LoggedIn)

    demo.inject(server_errors=100)
    with pytest.raises(SupplierUnavailable, match=r"server error \(500\)"):
        await connect().login(creds(PLAIN))
    assert demo.state.server_errors_served == 3  # one try and two retries


async def test_rate_limit_honours_retry_after(connect: Connect, demo: RunningDemo) -> None:
    demo.inject(rate_limits=1, retry_after=1)
    started = time.monotonic()
    assert isinstance(await connect().login(creds(PLAIN)), LoggedIn)
    assert time.monotonic() - started >= 1.0

    # Longer than a run should wait: give up at once and say when to come back.
    demo.inject(rate_limits=100, retry_after=120)
    with pytest.raises(SupplierUnavailable) as caught:
        await connect().login(creds(PLAIN))
    assert caught.value.retry_after == 120
    assert demo.state.rate_limits_served == 1


async def test_a_stalled_page_times_out(connect: Connect, demo: RunningDemo) -> None:
    connector = await signed_in(connect)
    demo.inject(stall_seconds=10, paths=("/invoices",))

    with pytest.raises(SupplierUnavailable, match="timeout"):
        await listed(connector)


async def test_malformed_invoice_table_is_a_layout_change(
    connect: Connect, demo: RunningDemo
) -> None:
    connector = await signed_in(connect)
    demo.inject(malformed_html=True)

    with pytest.raises(LayoutChanged, match="row 1"):
        await listed(connector)


async def test_changed_login_page_is_a_layout_change(connect: Connect, demo: RunningDemo) -> None:
    demo.inject(changed_login_page=True)

    with pytest.raises(LayoutChanged, match="login form"):
        await connect().login(creds(PLAIN))


async def test_html_served_as_pdf_is_an_invalid_download(
    connect: Connect, demo: RunningDemo
) -> None:
    connector = await signed_in(connect)
    first = (await listed(connector))[0]
    demo.inject(html_instead_of_pdf=True)

    with pytest.raises(InvalidDownload, match="HTML"):
        await connector.download(first)


async def test_new_terms_require_an_action(connect: Connect, demo: RunningDemo) -> None:
    demo.inject(terms_to_accept=True)

    with pytest.raises(ActionRequired) as caught:
        await connect().login(creds(PLAIN))
    assert caught.value.reason == "terms"

    sms = connect()
    await sms.login(creds(SMS))
    with pytest.raises(ActionRequired):
        await sms.submit_code(demo.last_code(SMS.login))


async def test_a_post_without_the_csrf_token_is_forbidden(demo: RunningDemo) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as client:
        response = await client.post("/login", data={"email": PLAIN.login, "password": "x"})
    assert response.status_code == 403
    assert "Jeton de sécurité" in response.text


async def test_a_session_lost_mid_run_is_retried_later(connect: Connect, demo: RunningDemo) -> None:
    connector = await signed_in(connect)
    first = (await listed(connector))[0]
    demo.expire_sessions()

    with pytest.raises(SupplierUnavailable, match="logged out"):
        await listed(connector)
    with pytest.raises(SupplierUnavailable, match="logged out"):
        await connector.download(first)


async def test_a_refused_form_is_a_layout_change(connect: Connect, recipe: Recipe) -> None:
    # As if the portal's CSRF scheme changed and the copied token no longer counts.
    forged = replace(recipe, login=replace(recipe.login, extra_fields=(("csrf_token", "x"),)))

    with pytest.raises(LayoutChanged, match="refused the form"):
        await connect(using=forged).login(creds(PLAIN))


async def test_terms_met_on_restore_require_an_action(connect: Connect, demo: RunningDemo) -> None:
    saved = await (await signed_in(connect)).save()
    demo.inject(terms_to_accept=True)

    with pytest.raises(ActionRequired):
        await connect().restore(saved)


# -- "approve in your app" ----------------------------------------------------------------


async def _tap(demo: RunningDemo, decision: str) -> httpx.Response:
    """What the owner's phone app sends when they tap approve or deny."""
    async with httpx.AsyncClient(base_url=demo.url) as phone:
        return await phone.post("/app/approvals", data={"login": APP.login, "decision": decision})


async def test_an_approval_in_the_app_is_polled_until_the_owner_taps_approve(
    connect: Connect, demo: RunningDemo
) -> None:
    connector = connect()

    request = await connector.login(creds(APP))

    assert isinstance(request, ApprovalRequest)
    assert request.masked_destination == "••••12"
    assert request.prompt is not None
    assert "application" in request.prompt
    assert request.expires_in == timedelta(minutes=5)
    assert await connector.poll_approval() is None  # nobody tapped yet
    assert (await _tap(demo, "approve")).json() == {"decided": 1}
    assert isinstance(await connector.poll_approval(), LoggedIn)
    assert len(await listed(connector)) == 3
    # The approval trusted this browser: the next login needs no phone.
    jar = (await connector.save())["cookies"]
    device = {**jar, "cookies": [c for c in jar["cookies"] if c["name"] == "demo_device"]}
    again = connect()
    assert not await again.restore({"cookies": device})
    assert isinstance(await again.login(creds(APP)), LoggedIn)


async def test_an_approval_denied_or_expired_on_the_site_is_denied(
    connect: Connect, demo: RunningDemo
) -> None:
    denied = connect()
    assert isinstance(await denied.login(creds(APP)), ApprovalRequest)
    await _tap(demo, "deny")
    with pytest.raises(ApprovalDenied, match="refusée"):
        await denied.poll_approval()

    expired = connect()
    assert isinstance(await expired.login(creds(APP)), ApprovalRequest)
    demo.advance(timedelta(minutes=6))
    with pytest.raises(ApprovalDenied, match="expiré"):
        await expired.poll_approval()
    assert (await _tap(demo, "approve")).status_code == 404  # nothing waits any more
