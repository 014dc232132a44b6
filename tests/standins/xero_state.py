"""The Xero stand-in's state: the organisations (tenants) with their books and tax
rates, the person's connections and consents, the bills and credit notes; and the answers
Xero shapes its errors with. Tests arrange and assert on `XeroStandin`;
tests/standins/xero.py serves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.standins.accounting_limits import Clock, Knobs, SlidingWindow, TokenBook

CLIENT_ID = "8B1F0E2C4D6A4F7E9C3B5A7D9E1F3A5C"
CLIENT_SECRET = "xero-secret-" + "q7" * 12
ACCESS_SECONDS = 30 * 60
REFRESH_GRACE_SECONDS = 30 * 60
REFRESH_UNUSED_SECONDS = 60 * 24 * 3600
MINUTE_LIMIT, DAY_LIMIT, CONCURRENT_LIMIT = 60, 5000, 5
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
ATTACHMENT_LIMIT = 10 * 1024 * 1024
ZERO_ID = "00000000-0000-0000-0000-000000000000"
FILLERS = tuple(f"Fournisseur {n:03d}" for n in range(1, 203))
SUPPLIER_NAMES = ("EDF Entreprises", "Orange Pro", "Metro France", *FILLERS)
#: Contacts that exist in the books but never had a bill: Xero has not flagged them
#: suppliers yet (one is a customer).
NEW_CONTACTS = (("Moulins Bertrand", False), ("Brasserie du Port", True))


@dataclass
class Tenant:
    tenant_id: str
    name: str
    accounts: list[dict[str, Any]]
    #: Every contact of the organisation (suppliers, customers and the rest).
    suppliers: list[dict[str, Any]]
    tax_rates: list[dict[str, Any]]


def bakery(tenant_id: str = "b7c2a3e0-5d1f-4c3e-9a7b-2f4d6e8a0c11") -> Tenant:
    return Tenant(
        tenant_id=tenant_id,
        name="Boulangerie Dupont SARL",
        accounts=[
            {
                "AccountID": str(uuid.uuid4()),
                "Code": code,
                "Name": name,
                "Type": kind,
                "TaxType": tax,
                "Status": "ACTIVE",
            }
            for code, name, kind, tax in (
                ("200", "Sales", "REVENUE", "OUTPUT2"),
                ("429", "General Expenses", "EXPENSE", "INPUT2"),
                ("445", "Light, Power, Heating", "EXPENSE", "INPUT2"),
                ("489", "Telephone & Internet", "EXPENSE", "INPUT2"),
                ("800", "Accounts Payable", "CURRLIAB", "NONE"),
            )
        ],
        suppliers=[
            {
                "ContactID": str(uuid.uuid4()),
                "Name": name,
                "IsSupplier": True,
                "IsCustomer": False,
                "ContactStatus": "ACTIVE",
            }
            for name in SUPPLIER_NAMES
        ]
        + [
            {
                "ContactID": str(uuid.uuid4()),
                "Name": name,
                "IsSupplier": False,
                "IsCustomer": customer,
                "ContactStatus": "ACTIVE",
            }
            for name, customer in NEW_CONTACTS
        ]
        + [
            {
                "ContactID": str(uuid.uuid4()),
                "Name": "Ancien Fournisseur",
                "IsSupplier": True,
                "IsCustomer": False,
                "ContactStatus": "ARCHIVED",
            }
        ],
        tax_rates=[
            {
                "Name": name,
                "TaxType": tax_type,
                "Status": "ACTIVE",
                "EffectiveRate": rate,
                "DisplayTaxRate": rate,
                "CanApplyToExpenses": True,
            }
            for name, tax_type, rate in (
                ("20% (VAT on Expenses)", "INPUT2", 20.0),
                ("5% (VAT on Expenses)", "INPUT", 5.0),
                ("No VAT", "NONE", 0.0),
            )
        ]
        + [
            # A tax rate the organisation added for France's reduced rate, and one it
            # keeps for its sales only.
            {
                "Name": "TVA 5,5 % (achats)",
                "TaxType": "TAX001",
                "Status": "ACTIVE",
                "EffectiveRate": 5.5,
                "DisplayTaxRate": 5.5,
                "CanApplyToExpenses": True,
            },
            {
                "Name": "TVA 10 % (ventes)",
                "TaxType": "TAX002",
                "Status": "ACTIVE",
                "EffectiveRate": 10.0,
                "DisplayTaxRate": 10.0,
                "CanApplyToExpenses": False,
                "CanApplyToRevenue": True,
            },
        ],
    )


@dataclass
class Connection:
    id: str
    tenant_id: str
    grant: str
    auth_event: str
    created: str


@dataclass(frozen=True)
class Consent:
    """What one consent granted: its scopes and its authentication event."""

    scopes: frozenset[str]
    auth_event: str


@dataclass
class Bill:
    invoice_id: str
    tenant_id: str
    body: dict[str, Any]
    attachments: dict[str, bytes] = field(default_factory=dict)
    #: "Invoices" or "CreditNotes": where it was created.
    kind: str = "Invoices"


@dataclass
class XeroStandin:
    """The stand-in's state, for tests to arrange and assert on."""

    tenants: dict[str, Tenant]
    time_scale: float = 1.0
    clock: Clock = field(default_factory=Clock)
    knobs: Knobs = field(default_factory=Knobs)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    #: The tenant the next consent picks (the user's choice on Xero's page).
    consent_tenant: str | None = None
    #: An app created from 2 March 2026: `accounting.transactions` is not offered to it.
    granular_app: bool = True
    #: Scopes the person's consent leaves out (an app not granted them), for tests.
    withheld_scopes: frozenset[str] = frozenset()
    consents: dict[str, Consent] = field(default_factory=dict)
    #: How many attachment uploads answer 500 before one goes through.
    attachment_failures: int = 0
    #: Answers of the stand-in that broke Xero's document (a bug in the stand-in).
    spec_breaches: list[str] = field(default_factory=list)
    tokens: TokenBook = field(default_factory=TokenBook)
    connections: list[Connection] = field(default_factory=list)
    bills: dict[str, Bill] = field(default_factory=dict)
    replies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    minute: dict[str, SlidingWindow] = field(default_factory=dict)
    day: dict[str, SlidingWindow] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)

    def seconds(self, documented: float) -> float:
        return documented / self.time_scale

    def remove_tenant(self, tenant_id: str) -> None:
        """The user disconnected the organisation from the app in Xero."""
        self.connections = [c for c in self.connections if c.tenant_id != tenant_id]

    def bills_of(self, tenant_id: str) -> list[Bill]:
        return [bill for bill in self.bills.values() if bill.tenant_id == tenant_id]


STANDIN = web.AppKey[XeroStandin]("xero")
TENANT = web.RequestKey[Tenant]("tenant")


def error_response(status: int, title: str, detail: str) -> web.Response:
    body: dict[str, Any] = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return web.json_response(body, status=status)


def oauth_error(error: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error}, status=status)


def validation_response(messages: Sequence[str], element: dict[str, Any] | None) -> web.Response:
    body: dict[str, Any] = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
    }
    if element is None:  # a request the schema refuses: no element to blame
        body["Message"] = "; ".join(messages)
    else:
        body["Elements"] = [element | {"ValidationErrors": [{"Message": m} for m in messages]}]
    return web.json_response(body, status=400)


def envelope(**payload: Any) -> dict[str, Any]:
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "Courier",
        "DateTimeUTC": f"/Date({stamp})/",
        **payload,
    }
