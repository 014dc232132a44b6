"""Read a UBL 2.1 Invoice or CreditNote (Peppol BIS Billing 3.0, XRechnung UBL).

Field mapping follows EN 16931's UBL binding: the seller is AccountingSupplierParty, its
legal name is preferred over the trading name because that is what registers and ledgers
key on.
"""

from __future__ import annotations

from decimal import Decimal
from xml.etree.ElementTree import Element

from core.extraction.fields import DocumentType, InvoiceData, VatLine
from core.extraction.identifiers import siren_from_vat
from core.extraction.xmlvalues import XmlValues, first

UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
# UNTDID 1001 codes that mean the amounts are credited to the buyer.
_CREDIT_TYPE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458"})
_PARTY = "cac:AccountingSupplierParty/cac:Party"


def read_ubl(root: Element, *, credit_note: bool) -> InvoiceData:
    """Map a parsed UBL document to InvoiceData with source "ubl" and confidence 1.0."""
    x = XmlValues(root, _NS, "ubl")
    currency = x.text("cbc:DocumentCurrencyCode")
    party = x.find(_PARTY)

    supplier_vat = None
    siren = None
    name = None
    if party is not None:
        name = first(
            [
                x.text("cac:PartyLegalEntity/cbc:RegistrationName", party),
                x.text("cac:PartyName/cbc:Name", party),
            ]
        )
        for scheme in x.findall("cac:PartyTaxScheme", party):
            if x.text("cac:TaxScheme/cbc:ID", scheme) in (None, "VAT"):
                supplier_vat = x.vat_field(x.text("cbc:CompanyID", scheme))
                if supplier_vat is not None:
                    break
        siren = first([x.siren(el.text, el.get("schemeID")) for el in _siren_candidates(x, party)])
    if siren is None and supplier_vat is not None:
        siren = siren_from_vat(supplier_vat.value)

    type_code = x.text("cbc:CreditNoteTypeCode" if credit_note else "cbc:InvoiceTypeCode")
    kind: DocumentType = (
        "credit_note" if credit_note or type_code in _CREDIT_TYPE_CODES else "invoice"
    )
    totals = x.find("cac:LegalMonetaryTotal")
    tax_total = _document_tax_total(x, currency)

    return InvoiceData(
        supplier_name=x.field(name),
        supplier_vat=supplier_vat,
        supplier_siren=x.field(siren),
        invoice_number=x.field(x.text("cbc:ID")),
        document_type=x.field(kind),
        issue_date=x.field(x.iso_date(x.text("cbc:IssueDate"))),
        due_date=x.field(
            x.iso_date(
                first(
                    [
                        x.text("cbc:DueDate"),
                        x.text("cac:PaymentMeans/cbc:PaymentDueDate"),
                    ]
                )
            )
        ),
        period_start=x.field(x.iso_date(x.text("cac:InvoicePeriod/cbc:StartDate"))),
        period_end=x.field(x.iso_date(x.text("cac:InvoicePeriod/cbc:EndDate"))),
        currency=x.field(currency),
        total_excl_tax=x.field(_amount(x, totals, "cbc:TaxExclusiveAmount")),
        total_tax=x.field(
            x.decimal(None if tax_total is None else x.find("cbc:TaxAmount", tax_total))
        ),
        total_incl_tax=x.field(
            first(
                [
                    _amount(x, totals, "cbc:TaxInclusiveAmount"),
                    _amount(x, totals, "cbc:PayableAmount"),
                ]
            )
        ),
        vat_lines=x.field(_vat_lines(x, tax_total)),
        iban=x.field(_iban(x)),
        warnings=tuple(x.warnings),
    )


def _siren_candidates(x: XmlValues, party: Element) -> list[Element]:
    return [
        *x.findall("cac:PartyLegalEntity/cbc:CompanyID", party),
        *x.findall("cac:PartyIdentification/cbc:ID", party),
        *x.findall("cbc:EndpointID", party),
    ]


def _amount(x: XmlValues, parent: Element | None, path: str) -> Decimal | None:
    return None if parent is None else x.decimal(x.find(path, parent))


def _document_tax_total(x: XmlValues, currency: str | None) -> Element | None:
    """Pick the TaxTotal in the document currency; a second one may be in the tax currency."""
    totals = x.findall("cac:TaxTotal")
    for total in totals:
        amount = x.find("cbc:TaxAmount", total)
        if amount is not None and amount.get("currencyID") in (None, currency):
            return total
    return totals[0] if totals else None


def _vat_lines(x: XmlValues, tax_total: Element | None) -> tuple[VatLine, ...] | None:
    if tax_total is None:
        return None
    lines = []
    for sub in x.findall("cac:TaxSubtotal", tax_total):
        amount = x.decimal(x.find("cbc:TaxAmount", sub))
        rate = x.decimal(x.find("cac:TaxCategory/cbc:Percent", sub))
        if amount is None:
            continue
        lines.append(
            VatLine(
                rate=Decimal(0) if rate is None else rate,
                base=x.decimal(x.find("cbc:TaxableAmount", sub)),
                amount=amount,
            )
        )
    return tuple(lines) or None


def _iban(x: XmlValues) -> str | None:
    for means in x.findall("cac:PaymentMeans"):
        account = x.iban(x.text("cac:PayeeFinancialAccount/cbc:ID", means))
        if account is not None:
            return account
    return None
