"""A woob module signs in to the Demo Supplier through the real woob library, in woob's own
virtualenv, behind the bridge: a code, an app approval, failures and a download, each as
Courier's connector contract says."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from core.models import ChallengeChannel
from core.suppliers.connector import (
    ActionRequired,
    ApprovalDenied,
    ApprovalRequest,
    CodeRejected,
    CodeRequest,
    Credentials,
    LayoutChanged,
    LoggedIn,
    LoginRefused,
    SupplierUnavailable,
)
from core.suppliers.woob.connector import WoobConnector
from core.suppliers.woob.setup import WoobSetup
from courier.demo_supplier import DemoAccount, RunningDemo
from tests.integration.woob.conftest import APP, PLAIN, SMS

Make = Callable[..., WoobConnector]


def credentials(account: DemoAccount) -> Credentials:
    return Credentials(account.login, SecretStr(account.password))


async def _approve_in_time(connector: WoobConnector) -> LoggedIn | None:
    for _ in range(100):
        step = await connector.poll_approval()
        if step is not None:
            assert isinstance(step, LoggedIn)
            return step
    return None


async def test_a_code_sent_by_sms_is_asked_and_a_wrong_one_refused(
    demo: RunningDemo, woob_connector: Make
) -> None:
    connector = woob_connector()
    step = await connector.login(credentials(SMS))
    assert step == CodeRequest(channel=ChallengeChannel.SMS, masked_destination="••••12")
    with pytest.raises(CodeRejected):
        await connector.submit_code("000000")
    # The site sent one SMS for the login; the wrong code did not make it send another.
    assert len(demo.state.sent_codes) == 1
    assert await connector.submit_code(demo.last_code(SMS.login)) == LoggedIn()
    invoices = [invoice async for invoice in connector.invoices(None)]
    newest_first = sorted(SMS.invoices, key=lambda i: i.issued_on, reverse=True)
    assert [i.reference for i in invoices] == [i.reference for i in newest_first]
    assert connector.listed == 3


async def test_the_invoices_are_listed_with_their_totals_and_downloaded(
    demo: RunningDemo, woob_connector: Make
) -> None:
    connector = woob_connector()
    assert await connector.login(credentials(PLAIN)) == LoggedIn()
    invoices = [invoice async for invoice in connector.invoices(None)]
    # Seven invoices on two pages of five: woob's module follows the pages itself.
    assert len(invoices) == connector.listed == 7
    newest = max(PLAIN.invoices, key=lambda i: i.issued_on)
    first = invoices[0]
    assert (first.reference, first.issued_on, first.amount, first.currency) == (
        newest.reference,
        newest.issued_on,
        newest.amount,
        "EUR",
    )
    since = sorted(i.issued_on for i in PLAIN.invoices)[-2]
    assert len([i async for i in connector.invoices(since)]) == 2
    download = await connector.download(first)
    assert download.content.startswith(b"%PDF-")
    assert download.filename == f"{newest.reference}.pdf"


async def test_an_app_approval_is_polled_until_the_phone_says_yes(
    demo: RunningDemo, woob_connector: Make
) -> None:
    connector = woob_connector()
    assert isinstance(await connector.login(credentials(APP)), ApprovalRequest)
    assert await connector.poll_approval() is None  # the phone has not answered yet
    demo.state.decide_approvals(APP.login, approve=True)
    assert await _approve_in_time(connector) == LoggedIn()
    assert len([i async for i in connector.invoices(None)]) == 3


async def test_an_approval_refused_on_the_phone_is_denied(
    demo: RunningDemo, woob_connector: Make
) -> None:
    connector = woob_connector()
    assert isinstance(await connector.login(credentials(APP)), ApprovalRequest)
    demo.state.decide_approvals(APP.login, approve=False)
    with pytest.raises(ApprovalDenied):
        await _approve_in_time(connector)


async def test_a_scheduled_run_never_makes_the_site_send_a_code(
    demo: RunningDemo, woob_connector: Make
) -> None:
    # Nobody at the chat: request_information is unset, the module raises
    # NeedInteractiveFor2FA before signing in, and the runner reads a code step as
    # "needs the user" when nobody is there.
    connector = woob_connector(attended=False)
    assert isinstance(await connector.login(credentials(SMS)), CodeRequest)
    assert demo.state.sent_codes == []


async def test_a_wrong_password_is_a_refused_login(woob_connector: Make) -> None:
    connector = woob_connector()
    with pytest.raises(LoginRefused):
        await connector.login(Credentials(PLAIN.login, SecretStr("not-the-password")))


async def test_a_site_that_fails_is_unavailable_and_one_that_changed_is_a_layout_change(
    demo: RunningDemo, woob_connector: Make
) -> None:
    demo.inject(server_errors=100)
    with pytest.raises(SupplierUnavailable):
        await woob_connector().login(credentials(PLAIN))
    demo.inject(server_errors=0, malformed_html=True)
    connector = woob_connector()
    assert await connector.login(credentials(PLAIN)) == LoggedIn()
    with pytest.raises(LayoutChanged):
        [i async for i in connector.invoices(None)]


async def test_terms_to_accept_are_an_action_for_the_owner(
    demo: RunningDemo, woob_connector: Make
) -> None:
    demo.inject(terms_to_accept=True)
    with pytest.raises(ActionRequired):
        await woob_connector().login(credentials(PLAIN))


async def test_the_session_comes_back_through_woobs_storage_without_the_password(
    demo: RunningDemo, woob_connector: Make
) -> None:
    connector = woob_connector()
    await connector.login(credentials(SMS))
    await connector.submit_code(demo.last_code(SMS.login))
    state = await connector.save()
    assert set(state) == {"browser_state"}
    assert SMS.password not in json.dumps(state)
    assert SMS.password not in repr(connector)
    # The next run reuses the session: no login, no code.
    assert await woob_connector(attended=False).restore(state) is True
    # Once the site forgot the session, the remembered device still spares the code.
    demo.expire_sessions()
    again = woob_connector()
    assert await again.restore(state) is False
    assert await again.login(credentials(SMS)) == LoggedIn()
    assert len(demo.state.sent_codes) == 1


async def test_a_module_woob_does_not_have_is_a_missing_connector(
    woob: WoobSetup, demo: RunningDemo
) -> None:
    from core.suppliers.registry import ConnectorMissing
    from core.suppliers.woob.modules import WoobModule
    from tests.integration.woob.conftest import MODULES

    connector = WoobConnector(WoobModule("nosuchmodule"), python=woob.python, modules_path=MODULES)
    try:
        with pytest.raises(ConnectorMissing):
            await connector.login(credentials(PLAIN))
    finally:
        await connector.close()


async def test_a_session_lost_after_its_check_is_retried_not_a_refused_password(
    demo: RunningDemo, woob_connector: Make
) -> None:
    connector = woob_connector()
    assert await connector.login(credentials(PLAIN)) == LoggedIn()
    state = await connector.save()
    later = woob_connector(attended=False)
    assert await later.restore(state) is True
    demo.expire_sessions()  # the site drops it while the run lists
    with pytest.raises(SupplierUnavailable):
        [i async for i in later.invoices(None)]
