"""What the demo supplier serves: its accounts and invoices, where it mails codes, and the
faults a test can switch on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

TwoFactorMode = Literal["none", "page", "email", "app"]
DateStyle = Literal["fr", "iso"]


@dataclass(frozen=True, slots=True)
class DemoInvoice:
    reference: str
    issued_on: date
    amount: Decimal  # total including VAT, in euros
    label: str = "Abonnement mensuel"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """One customer account. In "page" mode the code goes by (pretend) SMS to `phone` and is
    only recorded by the demo; in "email" mode it is really mailed to `email`; in "app"
    mode the login waits until the phone app approves it (`POST /app/approvals`)."""

    login: str
    password: str
    two_factor: TwoFactorMode = "none"
    email: str = "compta@example.com"
    phone: str = "+33612345612"
    company: str = "Boulangerie Dupont"
    invoices: tuple[DemoInvoice, ...] = ()


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where code emails go: Courier's own gateway in the demo, a sink in tests."""

    host: str = "127.0.0.1"
    port: int = 2525
    sender: str = "securite@demo-supplier.example"


@dataclass(frozen=True, slots=True)
class Faults:
    """Misbehaviours to inject. Counted faults (`server_errors`, `rate_limits`) answer that
    many requests badly and then recover, so tests can show both a retry that works and one
    that gives up. `paths` limits every fault to requests whose path starts with one of
    them (empty: all paths)."""

    latency_ms: int = 0
    server_errors: int = 0
    rate_limits: int = 0
    retry_after: int = 1
    stall_seconds: float = 0.0  # longer than the client's timeout → a timeout
    malformed_html: bool = False
    changed_login_page: bool = False
    html_instead_of_pdf: bool = False
    terms_to_accept: bool = False
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoConfig:
    accounts: tuple[DemoAccount, ...]
    faults: Faults = Faults()
    smtp: SmtpTarget = SmtpTarget()
    page_size: int = 5
    date_style: DateStyle = "fr"
    code_ttl: timedelta = timedelta(minutes=10)
    approval_ttl: timedelta = timedelta(minutes=5)
    max_code_attempts: int = 3
    session_ttl: timedelta = timedelta(hours=2)
    device_ttl: timedelta = timedelta(days=90)
    code_digits: int = 6


def sample_invoices(count: int = 12, *, last: date = date(2026, 11, 15)) -> tuple[DemoInvoice, ...]:
    """Monthly invoices, newest first, with amounts that vary a little as real ones do."""
    invoices: list[DemoInvoice] = []
    year, month = last.year, last.month
    for index in range(count):
        amount = Decimal(99 + index * 7 % 23) + Decimal("0.80")
        invoices.append(
            DemoInvoice(
                reference=f"FA-{year}-{month:02d}{last.day:02d}",
                issued_on=date(year, month, last.day),
                amount=amount + Decimal("19.80") if index % 4 == 3 else amount,
            )
        )
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return tuple(invoices)


def sample_config(*, smtp_port: int = 2525) -> DemoConfig:
    """The accounts `python -m courier.demo_supplier` serves, one per 2FA mode."""
    invoices = sample_invoices()
    return DemoConfig(
        accounts=(
            DemoAccount("demo@example.com", "demo", invoices=invoices),
            DemoAccount("sms@example.com", "demo", two_factor="page", invoices=invoices),
            DemoAccount("app@example.com", "demo", two_factor="app", invoices=invoices),
            DemoAccount(
                "mail@example.com",
                "demo",
                two_factor="email",
                email="demo@in.example.com",
                invoices=invoices,
            ),
        ),
        smtp=SmtpTarget(port=smtp_port),
    )
