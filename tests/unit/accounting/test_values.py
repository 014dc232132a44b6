"""The values crossing the provider interface keep their secrets out of sight, survive
sealing, and give the same idempotency key to the same document at the same company."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from core.accounting.errors import IntegrationExpired, RateLimited, Rejected
from core.accounting.provider import (
    AccountingProvider,
    AuthorizationStart,
    Bill,
    BillFile,
    Grant,
    idempotency_key,
)
from core.accounting.registry import ProviderRegistry, ProviderUnknown
from core.config import Settings

GRANT = Grant(
    access_token="at-SECRET-1",
    refresh_token="rt-SECRET-2",
    access_expires_at=datetime(2026, 11, 28, 4, 0, tzinfo=UTC),
    refresh_expires_at=datetime(2027, 1, 27, 4, 0, tzinfo=UTC),
    extra={"id_token": "it-SECRET-3"},
)


def test_reprs_never_show_tokens_verifiers_or_file_bytes() -> None:
    start = AuthorizationStart(
        url="https://x/authorize", state="st-SECRET-4", code_verifier="v-SECRET-5"
    )
    bill = Bill(
        document_id=1,
        idempotency_key="courier-abc",
        supplier_name="EDF",
        supplier_code=None,
        number="F-1",
        issue_date=date(2026, 11, 3),
        due_date=None,
        currency="EUR",
        total_excl=Decimal("100"),
        total_tax=Decimal("20"),
        total_incl=Decimal("120"),
        vat_lines=(),
        account_code="606100",
        tax_rate_code=None,
        file=BillFile(content=b"%PDF-SECRET-6", filename="f.pdf", content_type="application/pdf"),
    )
    shown = repr(GRANT) + repr(start) + repr(bill) + str(GRANT)
    for secret in ("SECRET-1", "SECRET-2", "SECRET-3", "SECRET-4", "SECRET-5", "SECRET-6"):
        assert secret not in shown


def test_a_grant_survives_its_sealed_form() -> None:
    assert Grant.from_json(GRANT.to_json()) == GRANT
    assert Grant.from_json({}) == Grant()


def test_the_idempotency_key_is_stable_per_document_and_company() -> None:
    key = idempotency_key(document_sha256="a" * 64, document_id=7, company_id="tenant-1")
    assert key == idempotency_key(document_sha256="a" * 64, document_id=7, company_id="tenant-1")
    assert key != idempotency_key(document_sha256="a" * 64, document_id=7, company_id="tenant-2")
    assert key != idempotency_key(document_sha256="b" * 64, document_id=7, company_id="tenant-1")
    assert len(key) <= 80


def test_failures_carry_keys_and_their_parameters_only() -> None:
    limited = RateLimited(provider="xero", retry_after=12.5)
    assert (limited.key, limited.retry_after, limited.retryable) == (
        "provider_rate_limited",
        12.5,
        True,
    )
    rejected = Rejected(provider="pennylane", reason="totals do not match", duplicate=False)
    assert (rejected.key, rejected.retryable, rejected.exit_code) == ("provider_rejected", False, 2)
    assert IntegrationExpired(provider="xero", reason="invalid_grant").key == "integration_expired"


def test_the_registry_builds_beancount_and_names_what_it_does_not_know() -> None:
    registry = ProviderRegistry(Settings(_env_file=None))
    beancount = registry.get("beancount")
    assert isinstance(beancount, AccountingProvider)
    assert registry.get("beancount") is beancount
    with pytest.raises(ProviderUnknown) as unknown:
        registry.get("sage")
    assert "beancount" in str(unknown.value.params["known"])
