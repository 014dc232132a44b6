"""What a connector gives from the supplier's own data becomes fields with source
"connector", which a reading of the PDF's text never overrides."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.extraction.fields import Field, InvoiceData
from core.extraction.merge import merge
from core.suppliers.connector import InvoiceRef
from core.suppliers.given_fields import connector_reading
from core.suppliers.registry import ConnectorRegistry
from courier.connectors import NUMBER_DATE_TOTAL, TOTAL_ONLY

AWS_INVOICE = InvoiceRef(
    reference="EUINFR26-1200001",
    issued_on=date(2026, 12, 2),
    amount=Decimal("41.20"),
    currency="eur",
    number="EUINFR26-1200001",
)


def test_an_api_invoice_gives_its_number_date_total_and_currency() -> None:
    data = connector_reading(AWS_INVOICE, NUMBER_DATE_TOTAL)
    assert data.invoice_number == Field("EUINFR26-1200001", "connector", 1.0)
    assert data.issue_date == Field(date(2026, 12, 2), "connector", 1.0)
    assert data.total_incl_tax == Field(Decimal("41.20"), "connector", 1.0)
    assert data.currency == Field("EUR", "connector", 1.0)


def test_only_what_the_connector_declares_is_given() -> None:
    # A Qonto receipt's date is its payment's: not the receipt's issue date.
    data = connector_reading(AWS_INVOICE, TOTAL_ONLY)
    assert (data.invoice_number, data.issue_date) == (None, None)
    assert data.total_incl_tax is not None
    no_amount = connector_reading(InvoiceRef("r", date(2026, 1, 1)), TOTAL_ONLY)
    assert no_amount == InvoiceData()


def test_the_connector_outranks_the_text_and_yields_to_a_person() -> None:
    text = InvoiceData(
        total_incl_tax=Field(Decimal("4.12"), "text", 0.9),
        supplier_name=Field("Amazon Web Services EMEA SARL", "text", 0.9),
    )
    merged = merge(text, connector_reading(AWS_INVOICE, NUMBER_DATE_TOTAL))
    assert merged.total_incl_tax == Field(Decimal("41.20"), "connector", 1.0)
    assert merged.supplier_name is not None  # what the connector does not give stays read
    corrected = InvoiceData(total_incl_tax=Field(Decimal("40.00"), "user", 1.0))
    final = merge(connector_reading(AWS_INVOICE, NUMBER_DATE_TOTAL), corrected)
    assert final.total_incl_tax == Field(Decimal("40.00"), "user", 1.0)


def test_a_connector_cannot_declare_a_field_it_could_not_give() -> None:
    registry = ConnectorRegistry()
    with pytest.raises(ValueError, match="iban"):
        registry.register("x", lambda supplier: None, gives=frozenset({"iban"}))  # type: ignore[arg-type,return-value]
