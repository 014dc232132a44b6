"""Xero through its stand-in over real HTTP on loopback, one story per test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from core.accounting.errors import IntegrationExpired, RateLimited, Rejected, Unavailable
from core.accounting.provider import AccountingProvider, Authorized, Bill, ListKind
from core.accounting.providers.oauth import OAuthEndpoints
from core.accounting.providers.xero import LIMITS, XeroProvider
from tests.integration.accounting_http import CALLBACK, consent, make_bill
from tests.standins import running
from tests.standins.accounting_limits import Fault
from tests.standins.xero import (
    ACCESS_SECONDS,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_GRACE_SECONDS,
    STANDIN,
    XeroStandin,
    bakery,
    create_app,
)

OTHER = "5a8e1c3d-7f20-4b6a-9c4e-0d2b4f6a8c13"


@dataclass
class Served:
    provider: XeroProvider
    standin: XeroStandin


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    other = bakery(OTHER)
    other.name = "Pâtisserie Martin"
    app = create_app(tenants=[bakery(), other])
    async with running(app) as origin:
        provider = XeroProvider(
            endpoints=OAuthEndpoints(
                authorize_url=f"{origin}/identity/connect/authorize",
                token_url=f"{origin}/connect/token",
                revoke_url=f"{origin}/connect/revocation",
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
            ),
            api_url=origin,
            limits=LIMITS.scaled(1000),  # Retry-After waits stay short in tests
        )
        yield Served(provider, app[STANDIN])
        await provider.aclose()


async def connect(served: Served) -> Authorized:
    start = await served.provider.start_authorization(state="st4te-1", redirect_uri=CALLBACK)
    params = await consent(start.url)
    assert params["state"] == "st4te-1"
    return await served.provider.complete_authorization(
        params=params, redirect_uri=CALLBACK, code_verifier=None
    )


async def test_connect_gives_tokens_and_the_organisation(served: Served) -> None:
    assert isinstance(served.provider, AccountingProvider)
    authorized = await connect(served)

    assert authorized.company.id == bakery().tenant_id
    assert authorized.company.name == "Boulangerie Dupont SARL"
    assert authorized.grant.access_token
    assert authorized.grant.refresh_token
    assert authorized.grant.access_expires_at
    assert authorized.grant.refresh_expires_at
    assert served.provider.warning_starts_at(authorized.grant) is not None


async def test_every_list_is_loaded_with_contacts_paged(served: Served) -> None:
    authorized = await connect(served)
    grant, company = authorized.grant, authorized.company
    accounts = await served.provider.load_list(grant=grant, company=company, kind=ListKind.ACCOUNTS)
    suppliers = await served.provider.load_list(
        grant=grant, company=company, kind=ListKind.SUPPLIERS
    )
    rates = await served.provider.load_list(grant=grant, company=company, kind=ListKind.TAX_RATES)

    assert [a.code for a in accounts] == ["200", "429", "445", "489", "800"]
    assert len(suppliers) == 205
    assert suppliers[0].name == "EDF Entreprises"
    assert {r.code for r in rates} == {"INPUT2", "INPUT", "NONE", "TAX001", "TAX002"}
    pages = [p for _, p in served.standin.knobs.requests if p.startswith("/api.xro/2.0/Contacts")]
    assert pages == [
        f"/api.xro/2.0/Contacts?where=IsSupplier%3D%3Dtrue&page={n}" for n in (1, 2, 3)
    ]


async def test_a_bill_is_published_once_with_its_file(served: Served) -> None:
    authorized = await connect(served)
    bill = make_bill()
    first = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    again = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )

    assert again.external_id == first.external_id
    (stored,) = served.standin.bills_of(authorized.company.id)
    assert stored.body["Type"] == "ACCPAY"
    assert stored.body["InvoiceNumber"] == "FA-2026-0117"
    assert stored.body["LineItems"][0]["AccountCode"] == "445"
    assert stored.attachments == {"FA-2026-0117.pdf": bill.file.content}


async def test_a_bill_xero_refuses_is_rejected_with_its_reason(served: Served) -> None:
    authorized = await connect(served)
    with pytest.raises(Rejected, match="Account code '999' is not a valid code"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill(account="999")
        )
    assert served.standin.bills == {}


async def test_tokens_rotate_and_the_old_refresh_token_dies_after_the_grace(
    served: Served,
) -> None:
    authorized = await connect(served)
    old = authorized.grant
    served.standin.clock.advance(ACCESS_SECONDS + 1)
    with pytest.raises(IntegrationExpired):
        await served.provider.load_list(
            grant=old, company=authorized.company, kind=ListKind.ACCOUNTS
        )

    new = await served.provider.refresh(grant=old)
    assert new.refresh_token != old.refresh_token
    assert new.access_token != old.access_token
    assert await served.provider.load_list(
        grant=new, company=authorized.company, kind=ListKind.ACCOUNTS
    )
    # Lost the new pair? The old refresh token still answers within the grace...
    assert (await served.provider.refresh(grant=old)).refresh_token
    served.standin.clock.advance(REFRESH_GRACE_SECONDS + 1)
    # ...and not after it: invalid_grant, the person must reconnect.
    with pytest.raises(IntegrationExpired, match="invalid_grant"):
        await served.provider.refresh(grant=old)
    assert (await served.provider.refresh(grant=new)).refresh_token


async def test_an_unused_refresh_token_dies_after_60_days(served: Served) -> None:
    authorized = await connect(served)
    served.standin.clock.advance(60 * 24 * 3600 + 1)
    with pytest.raises(IntegrationExpired, match="invalid_grant"):
        await served.provider.refresh(grant=authorized.grant)


async def test_a_removed_tenant_means_the_integration_expired(served: Served) -> None:
    authorized = await connect(served)
    served.standin.remove_tenant(authorized.company.id)
    with pytest.raises(IntegrationExpired, match="organisation disconnected"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill()
        )


async def test_reconsenting_to_another_organisation_names_it(served: Served) -> None:
    await connect(served)
    served.standin.consent_tenant = OTHER
    again = await connect(served)
    assert again.company.id == OTHER


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.MALFORMED_JSON])
async def test_a_broken_answer_is_unavailable_and_publishes_nothing(
    served: Served, fault: Fault
) -> None:
    authorized = await connect(served)
    served.standin.knobs.fault = fault
    with pytest.raises(Unavailable):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill()
        )
    served.standin.knobs.fault = None
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=make_bill()
    )
    assert len(served.standin.bills) == 1


async def test_a_429_is_waited_out_and_sent_again(served: Served) -> None:
    authorized = await connect(served)
    served.standin.knobs.fault, served.standin.knobs.fault_times = Fault.RATE_LIMITED, 2
    served.standin.knobs.retry_after = 0.01
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=make_bill()
    )
    assert served.provider.api.rate_limited == served.provider.api.retried == 2
    assert len(served.standin.bills) == 1


async def test_a_429_too_long_to_wait_is_rate_limited(served: Served) -> None:
    authorized = await connect(served)
    served.standin.knobs.fault = Fault.RATE_LIMITED
    served.standin.knobs.retry_after = 3600
    with pytest.raises(RateLimited) as caught:
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill()
        )
    assert caught.value.retry_after == 3600
    assert served.standin.bills == {}


async def test_disconnect_revokes_the_grant(served: Served) -> None:
    authorized = await connect(served)
    await served.provider.disconnect(grant=authorized.grant, company=authorized.company)
    assert served.standin.connections == []
    with pytest.raises(IntegrationExpired):
        await served.provider.refresh(grant=authorized.grant)


async def test_no_token_appears_in_logs_or_reprs(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    authorized = await connect(served)
    new = await served.provider.refresh(grant=authorized.grant)
    served.standin.knobs.fault = Fault.SERVER_ERROR
    with pytest.raises(Unavailable) as caught:
        await served.provider.load_list(
            grant=new, company=authorized.company, kind=ListKind.ACCOUNTS
        )
    seen = caplog.text + repr(authorized) + repr(new) + repr(served.provider) + str(caught.value)
    for secret in (
        authorized.grant.access_token,
        authorized.grant.refresh_token,
        new.access_token,
        new.refresh_token,
        CLIENT_SECRET,
    ):
        assert secret
        assert secret not in seen


@pytest.mark.parametrize(
    ("bill", "refusal"),
    [
        (make_bill(tax_rate="TAX999"), "The TaxType code 'TAX999' does not exist"),
        (make_bill(tax_rate="TAX002"), "cannot be used for this type of transaction"),  # sales
        (make_bill(tax_rate="INPUT"), "does not match the 5% \\(VAT on Expenses\\) rate"),
        (make_bill(excl="-100.00", tax="-20.00"), "total cannot be negative"),
    ],
    ids=["unknown-tax-type", "sales-only-tax-type", "tax-contradicts-rate", "negative-bill"],
)
async def test_xero_refuses_a_wrong_tax_type_or_a_negative_bill(
    served: Served, bill: Bill, refusal: str
) -> None:
    authorized = await connect(served)
    with pytest.raises(Rejected, match=refusal):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=bill
        )
    assert served.standin.bills == {}


async def test_a_credit_note_goes_to_credit_notes_with_its_file(served: Served) -> None:
    authorized = await connect(served)
    bill = replace(make_bill("AV-2026-0007"), credit_note=True)
    published = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    stored = served.standin.bills[published.external_id]
    assert (stored.kind, stored.body["Type"]) == ("CreditNotes", "ACCPAYCREDIT")
    assert stored.body["CreditNoteNumber"] == "AV-2026-0007"
    assert stored.attachments == {"AV-2026-0007.pdf": bill.file.content}
    assert "ViewCreditNote" in (published.location or "")
