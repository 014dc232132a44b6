"""Read a UN/CEFACT CII invoice: CrossIndustryInvoice (Factur-X / ZUGFeRD 2.x, XRechnung
CII) and its predecessor CrossIndustryDocument (ZUGFeRD 1.0).

One reader serves every profile from MINIMUM to EXTENDED: the lighter profiles simply
lack some elements (MINIMUM has no VAT breakdown, no due date, no IBAN), which then stay
None rather than being guessed. ZUGFeRD 1.0 is the same model under older names (its
own root namespace, version 12 of the aggregate schema, "Header" and "SupplyChain" in
the element names), so the two differ only in a `_Dialect` of paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.etree.ElementTree import Element

from core.extraction.fields import DocumentType, InvoiceData, VatLine
from core.extraction.identifiers import siren_from_vat
from core.extraction.xmlvalues import XmlValues, first

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
#: ZUGFeRD 1.0 (2014), embedded as ZUGFeRD-invoice.xml; still written by older software.
ZUGFERD1_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"
_CREDIT_TYPE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458"})
_SUMMATION = "ram:SpecifiedTradeSettlementHeaderMonetarySummation"
_PERIOD = "ram:BillingSpecifiedPeriod"
_DT = "udt:DateTimeString"
_PAYEE_ACCOUNT = "ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount"


@dataclass(frozen=True, slots=True)
class _Dialect:
    """Where one CII generation keeps each part of the invoice."""

    namespaces: dict[str, str]
    document: str
    seller: str
    settlement: str
    summation: str
    rate: str


_CII = _Dialect(
    namespaces={
        "rsm": CII_NS,
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    },
    document="rsm:ExchangedDocument",
    seller="rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty",
    settlement="rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement",
    summation=_SUMMATION,
    rate="ram:RateApplicablePercent",
)
_ZUGFERD1 = _Dialect(
    namespaces={
        "rsm": ZUGFERD1_NS,
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15",
    },
    document="rsm:HeaderExchangedDocument",
    seller=(
        "rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeAgreement"
        "/ram:SellerTradeParty"
    ),
    settlement="rsm:SpecifiedSupplyChainTradeTransaction/ram:ApplicableSupplyChainTradeSettlement",
    summation="ram:SpecifiedTradeSettlementMonetarySummation",
    rate="ram:ApplicablePercent",
)


def read_zugferd1(root: Element) -> InvoiceData:
    """Map a parsed ZUGFeRD 1.0 CrossIndustryDocument to InvoiceData (source "cii")."""
    return _read(root, _ZUGFERD1)


def read_cii(root: Element) -> InvoiceData:
    """Map a parsed CII document to InvoiceData with source "cii" and confidence 1.0."""
    return _read(root, _CII)


def _read(root: Element, dialect: _Dialect) -> InvoiceData:
    x = XmlValues(root, dialect.namespaces, "cii")
    seller = x.find(dialect.seller)
    settlement = x.find(dialect.settlement)

    supplier_vat = None
    siren = None
    name = None
    if seller is not None:
        name = x.text("ram:Name", seller)
        for reg in x.findall("ram:SpecifiedTaxRegistration/ram:ID", seller):
            if reg.get("schemeID") in (None, "VA"):
                supplier_vat = x.vat_field(reg.text)
                if supplier_vat is not None:
                    break
        legal = x.find("ram:SpecifiedLegalOrganization/ram:ID", seller)
        if legal is not None:
            siren = x.siren(legal.text, legal.get("schemeID"))
    if siren is None and supplier_vat is not None:
        siren = siren_from_vat(supplier_vat.value)

    type_code = x.text(f"{dialect.document}/ram:TypeCode")
    kind: DocumentType = "credit_note" if type_code in _CREDIT_TYPE_CODES else "invoice"
    currency = None if settlement is None else x.text("ram:InvoiceCurrencyCode", settlement)
    summation = None if settlement is None else x.find(dialect.summation, settlement)

    def cii_date(path: str, at: Element | None) -> date | None:
        return None if at is None else _cii_date(x, x.find(path, at))

    return InvoiceData(
        supplier_name=x.field(name),
        supplier_vat=supplier_vat,
        supplier_siren=x.field(siren),
        invoice_number=x.field(x.text(f"{dialect.document}/ram:ID")),
        document_type=x.field(kind),
        issue_date=x.field(cii_date(f"ram:IssueDateTime/{_DT}", x.find(dialect.document))),
        due_date=x.field(
            cii_date(f"ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/{_DT}", settlement)
        ),
        period_start=x.field(cii_date(f"{_PERIOD}/ram:StartDateTime/{_DT}", settlement)),
        period_end=x.field(cii_date(f"{_PERIOD}/ram:EndDateTime/{_DT}", settlement)),
        currency=x.field(currency),
        total_excl_tax=x.field(_amount(x, summation, "ram:TaxBasisTotalAmount")),
        total_tax=x.field(_tax_total(x, summation, currency)),
        total_incl_tax=x.field(
            first(
                [
                    _amount(x, summation, "ram:GrandTotalAmount"),
                    _amount(x, summation, "ram:DuePayableAmount"),
                ]
            )
        ),
        vat_lines=x.field(_vat_lines(x, settlement, dialect.rate)),
        iban=x.field(_iban(x, settlement)),
        warnings=tuple(x.warnings),
    )


def _cii_date(x: XmlValues, element: Element | None) -> date | None:
    """Read a udt:DateTimeString; format 102 (yyyymmdd) is the only one EN 16931 allows."""
    if element is None or element.text is None:
        return None
    raw = element.text.strip()
    fmt = element.get("format", "102")
    if fmt != "102" or len(raw) != 8 or not raw.isdigit():
        x.warn("invalid_date")
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        x.warn("invalid_date")
        return None


def _amount(x: XmlValues, parent: Element | None, path: str) -> Decimal | None:
    return None if parent is None else x.decimal(x.find(path, parent))


def _tax_total(x: XmlValues, summation: Element | None, currency: str | None) -> Decimal | None:
    """Pick the TaxTotalAmount in the invoice currency; another may be in the tax currency."""
    if summation is None:
        return None
    amounts = x.findall("ram:TaxTotalAmount", summation)
    for amount in amounts:
        if amount.get("currencyID") in (None, currency):
            return x.decimal(amount)
    return x.decimal(amounts[0]) if amounts else None


def _vat_lines(
    x: XmlValues, settlement: Element | None, rate_path: str
) -> tuple[VatLine, ...] | None:
    if settlement is None:
        return None
    lines = []
    for tax in x.findall("ram:ApplicableTradeTax", settlement):
        amount = x.decimal(x.find("ram:CalculatedAmount", tax))
        if amount is None:
            continue
        rate = x.decimal(x.find(rate_path, tax))
        lines.append(
            VatLine(
                rate=Decimal(0) if rate is None else rate,
                base=x.decimal(x.find("ram:BasisAmount", tax)),
                amount=amount,
            )
        )
    return tuple(lines) or None


def _iban(x: XmlValues, settlement: Element | None) -> str | None:
    if settlement is None:
        return None
    for account in x.findall(_PAYEE_ACCOUNT, settlement):
        found = x.iban(x.text("ram:IBANID", account))
        if found is not None:
            return found
    return None
