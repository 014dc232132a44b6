"""Xero through its stand-in over real HTTP on loopback, one story per test."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.accounting.errors import (
    AttachmentFailed,
    AttachmentTooLarge,
    IntegrationExpired,
    RateLimited,
    Rejected,
    Unavailable,
)
from core.accounting.provider import AccountingProvider, Authorized, Bill, BillFile, ListKind
from core.accounting.providers.oauth import OAuthEndpoints
from core.accounting.providers.xero import LIMITS, Scopes, XeroProvider
from tests.integration.accounting_http import CALLBACK, consent, make_bill
from tests.standins import running
from tests.standins.accounting_limits import Fault
from tests.standins.xero import (
    ACCESS_SECONDS,
    ATTACHMENT_LIMIT,
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
    origin: str


def _provider(origin: str, scopes: Scopes = "granular") -> XeroProvider:
    return XeroProvider(
        endpoints=OAuthEndpoints(
            authorize_url=f"{origin}/identity/connect/authorize",
            token_url=f"{origin}/connect/token",
            revoke_url=f"{origin}/connect/revocation",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        ),
        api_url=origin,
        limits=LIMITS.scaled(1000),  # Retry-After waits stay short in tests
        scopes=scopes,
    )


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    other = bakery(OTHER)
    other.name = "Pâtisserie Martin"
    app = create_app(tenants=[bakery(), other])
    async with running(app) as origin:
        provider = _provider(origin)
        yield Served(provider, app[STANDIN], origin)
        await provider.aclose()
    # Every answer the stand-in gave kept to Xero's published document.
    assert app[STANDIN].spec_breaches == []


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
    contacts = served.standin.tenants[company.id].suppliers
    contacts += [
        {
            "ContactID": str(uuid.uuid4()),
            "Name": f"Client {n:04d}",
            "IsSupplier": False,
            "IsCustomer": True,
            "ContactStatus": "ACTIVE",
        }
        for n in range(1000)
    ]
    accounts = await served.provider.load_list(grant=grant, company=company, kind=ListKind.ACCOUNTS)
    suppliers = await served.provider.load_list(
        grant=grant, company=company, kind=ListKind.SUPPLIERS
    )
    rates = await served.provider.load_list(grant=grant, company=company, kind=ListKind.TAX_RATES)

    assert [a.code for a in accounts] == ["200", "429", "445", "489", "800"]
    assert len(suppliers) == 1207  # every active contact: a bill may go to any of them
    assert suppliers[0].name == "EDF Entreprises"
    assert "Ancien Fournisseur" not in {s.name for s in suppliers}  # archived
    assert {r.code for r in rates} == {"INPUT2", "INPUT", "NONE", "TAX001", "TAX002"}
    pages = [p for _, p in served.standin.knobs.requests if p.startswith("/api.xro/2.0/Contacts")]
    assert pages == [f"/api.xro/2.0/Contacts?page={n}&pageSize=1000" for n in (1, 2)]


async def test_a_contact_that_never_had_a_bill_is_found_for_its_first_one(
    served: Served,
) -> None:
    # "Moulins Bertrand" is in the books but has no bill yet: Xero has not flagged it a
    # supplier. Its first bill must still find it, and not create a second contact.
    authorized = await connect(served)
    suppliers = await served.provider.load_list(
        grant=authorized.grant, company=authorized.company, kind=ListKind.SUPPLIERS
    )
    (moulins,) = [s for s in suppliers if s.name == "Moulins Bertrand"]

    bill = make_bill(supplier="Moulins Bertrand", supplier_code=moulins.code)
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )

    contacts = served.standin.tenants[authorized.company.id].suppliers
    (contact,) = [c for c in contacts if c["Name"] == "Moulins Bertrand"]
    assert contact["ContactID"] == moulins.code
    assert contact["IsSupplier"] is True


async def test_a_new_supplier_is_created_by_its_first_bill(served: Served) -> None:
    authorized = await connect(served)
    bill = make_bill(supplier="Minoterie Neuve", supplier_code=None)
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=bill
    )
    suppliers = await served.provider.load_list(
        grant=authorized.grant, company=authorized.company, kind=ListKind.SUPPLIERS
    )
    assert [s.name for s in suppliers].count("Minoterie Neuve") == 1


async def test_the_app_asks_for_granular_scopes_by_default(served: Served) -> None:
    start = await served.provider.start_authorization(state="s", redirect_uri=CALLBACK)
    asked = parse_qs(urlsplit(start.url).query)["scope"][0].split()
    assert "accounting.invoices" in asked
    assert "accounting.transactions" not in asked
    assert {"accounting.contacts", "accounting.attachments", "offline_access"} <= set(asked)

    authorized = await connect(served)  # an app created from 2 March 2026 accepts them
    await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=make_bill()
    )
    assert len(served.standin.bills) == 1


async def test_an_older_app_set_to_broad_scopes_connects_with_them(served: Served) -> None:
    served.standin.granular_app = False  # an app created before 2 March 2026
    broad = _provider(served.origin, scopes="broad")
    try:
        start = await broad.start_authorization(state="s", redirect_uri=CALLBACK)
        assert "accounting.transactions" in start.url
        params = await consent(start.url)
        authorized = await broad.complete_authorization(
            params=params, redirect_uri=CALLBACK, code_verifier=None
        )
        await broad.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill()
        )
    finally:
        await broad.aclose()
    assert len(served.standin.bills) == 1


async def test_a_new_app_asking_for_broad_scopes_is_refused_as_xero_refuses_it(
    served: Served,
) -> None:
    broad = _provider(served.origin, scopes="broad")
    try:
        start = await broad.start_authorization(state="s", redirect_uri=CALLBACK)
        params = await consent(start.url)
        assert params["error"] == "invalid_scope"
        with pytest.raises(IntegrationExpired):
            await broad.complete_authorization(
                params=params, redirect_uri=CALLBACK, code_verifier=None
            )
    finally:
        await broad.aclose()


async def test_a_grant_without_the_scope_a_call_needs_is_refused(served: Served) -> None:
    served.standin.withheld_scopes = frozenset({"accounting.invoices"})
    authorized = await connect(served)
    with pytest.raises(IntegrationExpired, match="lacks a scope"):
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=make_bill()
        )
    assert served.standin.bills == {}


async def test_reconnecting_one_of_several_organisations_links_the_one_just_picked(
    served: Served,
) -> None:
    # The person has two organisations connected to the app; they reconnect the first.
    first = await connect(served)
    served.standin.consent_tenant = OTHER
    second = await connect(served)
    served.standin.consent_tenant = first.company.id
    again = await connect(served)

    assert second.company.id == OTHER
    assert again.company.id == first.company.id
    asked = [p for _, p in served.standin.knobs.requests if p.startswith("/connections")]
    assert all("authEventId=" in p for p in asked)


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
    (put,) = [p for m, p in served.standin.knobs.requests if m == "PUT"]
    assert put == "/api.xro/2.0/Invoices?summarizeErrors=true"


async def test_a_field_xero_does_not_know_is_refused_as_xero_refuses_it(
    served: Served,
) -> None:
    authorized = await connect(served)
    line = {"Description": "x", "AccountCode": "445", "Vat": 20}
    invoice = {"Type": "ACCPAY", "Contact": {"Name": "EDF Entreprises"}, "LineItems": [line]}
    body = {"Invoices": [invoice]}
    async with httpx.AsyncClient() as client:
        answer = await client.put(
            f"{served.origin}/api.xro/2.0/Invoices",
            params={"summarizeErrors": "true"},
            headers={
                "Authorization": f"Bearer {authorized.grant.access_token}",
                "xero-tenant-id": authorized.company.id,
            },
            json=body,
        )
    assert answer.status_code == 400
    assert answer.json()["Type"] == "ValidationException"
    assert "'Vat' was unexpected" in answer.json()["Message"]
    assert served.standin.bills == {}


async def test_a_file_over_10_mb_makes_no_bill(served: Served) -> None:
    authorized = await connect(served)
    heavy = BillFile(b"%PDF-1.7\n" + b"0" * ATTACHMENT_LIMIT, "scan.pdf", "application/pdf")
    with pytest.raises(AttachmentTooLarge) as caught:
        await served.provider.publish_bill(
            grant=authorized.grant,
            company=authorized.company,
            bill=replace(make_bill(), file=heavy),
        )
    assert caught.value.key == "provider_attachment_too_large"
    assert served.standin.bills == {}
    assert [m for m, _ in served.standin.knobs.requests if m == "PUT"] == []


async def test_the_stand_in_refuses_an_attachment_over_10_mb(served: Served) -> None:
    authorized = await connect(served)
    published = await served.provider.publish_bill(
        grant=authorized.grant, company=authorized.company, bill=make_bill()
    )
    async with httpx.AsyncClient() as client:
        answer = await client.put(
            f"{served.origin}/api.xro/2.0/Invoices/{published.external_id}/Attachments/big.pdf",
            headers={
                "Authorization": f"Bearer {authorized.grant.access_token}",
                "xero-tenant-id": authorized.company.id,
                "Content-Type": "application/octet-stream",
            },
            content=b"0" * (ATTACHMENT_LIMIT + 1),
        )
    assert answer.status_code == 413
    assert "big.pdf" not in served.standin.bills[published.external_id].attachments


async def test_when_only_the_file_failed_only_the_file_is_sent_again(served: Served) -> None:
    authorized = await connect(served)
    served.standin.attachment_failures = 1
    bill = make_bill()
    with pytest.raises(AttachmentFailed) as caught:
        await served.provider.publish_bill(
            grant=authorized.grant, company=authorized.company, bill=bill
        )
    (made,) = served.standin.bills.values()
    assert made.attachments == {}
    assert caught.value.external_id == made.invoice_id

    again = await served.provider.publish_bill(
        grant=authorized.grant,
        company=authorized.company,
        bill=replace(bill, existing_id=caught.value.external_id),
    )
    assert again.external_id == made.invoice_id
    assert list(served.standin.bills.values()) == [made]
    assert made.attachments == {"FA-2026-0117.pdf": bill.file.content}
    token = authorized.grant.access_token
    assert token
    assert token not in str(caught.value) + repr(caught.value)
    puts = [p.split("?")[0] for m, p in served.standin.knobs.requests if m == "PUT"]
    assert puts.count("/api.xro/2.0/Invoices") == 1  # the bill was made once


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
