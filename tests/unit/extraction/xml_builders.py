"""UBL 2.1 and CII (Factur-X profiles, XRechnung) documents generated from a Sample."""

from __future__ import annotations

from datetime import date
from xml.sax.saxutils import escape

from tests.unit.extraction.corpus import Sample, line_total, money

# --------------------------------------------------------------------------- UBL


def build_ubl(s: Sample) -> bytes:
    root = "CreditNote" if s.credit_note else "Invoice"
    type_tag = "CreditNoteTypeCode" if s.credit_note else "InvoiceTypeCode"
    type_code = "381" if s.credit_note else "380"
    line_tag = "CreditNoteLine" if s.credit_note else "InvoiceLine"
    qty_tag = "CreditedQuantity" if s.credit_note else "InvoicedQuantity"
    due = f"<cbc:DueDate>{s.due.isoformat()}</cbc:DueDate>" if s.due and not s.credit_note else ""
    period = (
        "<cac:InvoicePeriod>"
        f"<cbc:StartDate>{s.period[0].isoformat()}</cbc:StartDate>"
        f"<cbc:EndDate>{s.period[1].isoformat()}</cbc:EndDate></cac:InvoicePeriod>"
        if s.period
        else ""
    )
    siren = (
        f'<cbc:CompanyID schemeID="0002">{s.seller_siren}</cbc:CompanyID>' if s.seller_siren else ""
    )
    credit_due = (
        f"<cbc:PaymentDueDate>{s.due.isoformat()}</cbc:PaymentDueDate>"
        if s.due and s.credit_note
        else ""
    )
    payment = (
        f"<cac:PaymentMeans><cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>{credit_due}"
        f"<cac:PayeeFinancialAccount><cbc:ID>{s.iban}</cbc:ID></cac:PayeeFinancialAccount>"
        "</cac:PaymentMeans>"
        if s.iban
        else ""
    )
    c = s.currency
    subtotals = "".join(
        f'<cac:TaxSubtotal><cbc:TaxableAmount currencyID="{c}">{money(base)}</cbc:TaxableAmount>'
        f'<cbc:TaxAmount currencyID="{c}">{money(tax)}</cbc:TaxAmount>'
        f"<cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{rate}</cbc:Percent>"
        "<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal>"
        for rate, base, tax in s.breakdown()
    )
    lines = "".join(
        f"<cac:{line_tag}><cbc:ID>{i}</cbc:ID>"
        f'<cbc:{qty_tag} unitCode="C62">{line.quantity}</cbc:{qty_tag}>'
        f'<cbc:LineExtensionAmount currencyID="{c}">{money(line_total(line))}'
        "</cbc:LineExtensionAmount>"
        f"<cac:Item><cbc:Name>{escape(line.description)}</cbc:Name>"
        f"<cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{line.rate}</cbc:Percent>"
        "<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>"
        f'<cac:Price><cbc:PriceAmount currencyID="{c}">{line.unit_price}</cbc:PriceAmount>'
        f"</cac:Price></cac:{line_tag}>"
        for i, line in enumerate(s.lines, 1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
<cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
<cbc:ID>{escape(s.number)}</cbc:ID>
<cbc:IssueDate>{s.issue.isoformat()}</cbc:IssueDate>
{due}
<cbc:{type_tag}>{type_code}</cbc:{type_tag}>
<cbc:DocumentCurrencyCode>{c}</cbc:DocumentCurrencyCode>
{period}
<cac:AccountingSupplierParty><cac:Party>
<cbc:EndpointID schemeID="9957">{s.seller_vat}</cbc:EndpointID>
<cac:PartyName><cbc:Name>Trading name that must not win</cbc:Name></cac:PartyName>
<cac:PostalAddress><cac:Country><cbc:IdentificationCode>{s.seller_country}</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
<cac:PartyTaxScheme><cbc:CompanyID>{s.seller_vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
<cac:PartyLegalEntity><cbc:RegistrationName>{escape(s.seller_name)}</cbc:RegistrationName>{siren}</cac:PartyLegalEntity>
</cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party>
<cac:PartyTaxScheme><cbc:CompanyID>FR23334175221</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
<cac:PartyLegalEntity><cbc:RegistrationName>{escape(s.buyer_name)}</cbc:RegistrationName></cac:PartyLegalEntity>
</cac:Party></cac:AccountingCustomerParty>
{payment}
<cac:TaxTotal>
<cbc:TaxAmount currencyID="{c}">{money(s.total_tax)}</cbc:TaxAmount>{subtotals}
</cac:TaxTotal>
<cac:LegalMonetaryTotal>
<cbc:LineExtensionAmount currencyID="{c}">{money(s.total_excl)}</cbc:LineExtensionAmount>
<cbc:TaxExclusiveAmount currencyID="{c}">{money(s.total_excl)}</cbc:TaxExclusiveAmount>
<cbc:TaxInclusiveAmount currencyID="{c}">{money(s.total_incl)}</cbc:TaxInclusiveAmount>
<cbc:PayableAmount currencyID="{c}">{money(s.total_incl)}</cbc:PayableAmount>
</cac:LegalMonetaryTotal>
{lines}
</{root}>""".encode()


# --------------------------------------------------------------------------- CII

GUIDELINES = {
    "minimum": "urn:factur-x.eu:1p0:minimum",
    "basicwl": "urn:factur-x.eu:1p0:basicwl",
    "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "en16931": "urn:cen.eu:en16931:2017",
    "extended": "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
    "xrechnung": "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
}
# Which profiles carry which optional parts of the header.
_HAS_LINES = frozenset({"basic", "en16931", "extended", "xrechnung"})
_HAS_DETAILS = frozenset({"basicwl", "basic", "en16931", "extended", "xrechnung"})


def _d102(value: date) -> str:
    return f'<udt:DateTimeString format="102">{value:%Y%m%d}</udt:DateTimeString>'


def build_cii(s: Sample, profile: str) -> bytes:
    c = s.currency
    details = profile in _HAS_DETAILS
    items = ""
    if profile in _HAS_LINES:
        items = "".join(
            "<ram:IncludedSupplyChainTradeLineItem>"
            f"<ram:AssociatedDocumentLineDocument><ram:LineID>{i}</ram:LineID>"
            "</ram:AssociatedDocumentLineDocument>"
            f"<ram:SpecifiedTradeProduct><ram:Name>{escape(line.description)}</ram:Name>"
            "</ram:SpecifiedTradeProduct>"
            "<ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice>"
            f"<ram:ChargeAmount>{line.unit_price}</ram:ChargeAmount>"
            "</ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>"
            "<ram:SpecifiedLineTradeDelivery>"
            f'<ram:BilledQuantity unitCode="C62">{line.quantity}</ram:BilledQuantity>'
            "</ram:SpecifiedLineTradeDelivery>"
            "<ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax>"
            "<ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>"
            f"<ram:RateApplicablePercent>{line.rate}</ram:RateApplicablePercent>"
            "</ram:ApplicableTradeTax><ram:SpecifiedTradeSettlementLineMonetarySummation>"
            f"<ram:LineTotalAmount>{money(line_total(line))}</ram:LineTotalAmount>"
            "</ram:SpecifiedTradeSettlementLineMonetarySummation>"
            "</ram:SpecifiedLineTradeSettlement></ram:IncludedSupplyChainTradeLineItem>"
            for i, line in enumerate(s.lines, 1)
        )
    legal = (
        "<ram:SpecifiedLegalOrganization>"
        f'<ram:ID schemeID="0002">{s.seller_siren}</ram:ID></ram:SpecifiedLegalOrganization>'
        if s.seller_siren
        else ""
    )
    payment = (
        "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode>"
        "<ram:PayeePartyCreditorFinancialAccount>"
        f"<ram:IBANID>{s.iban}</ram:IBANID></ram:PayeePartyCreditorFinancialAccount>"
        "</ram:SpecifiedTradeSettlementPaymentMeans>"
        if details and s.iban
        else ""
    )
    taxes = (
        "".join(
            "<ram:ApplicableTradeTax>"
            f"<ram:CalculatedAmount>{money(tax)}</ram:CalculatedAmount>"
            "<ram:TypeCode>VAT</ram:TypeCode>"
            f"<ram:BasisAmount>{money(base)}</ram:BasisAmount>"
            "<ram:CategoryCode>S</ram:CategoryCode>"
            f"<ram:RateApplicablePercent>{rate}</ram:RateApplicablePercent>"
            "</ram:ApplicableTradeTax>"
            for rate, base, tax in s.breakdown()
        )
        if details
        else ""
    )
    period = (
        "<ram:BillingSpecifiedPeriod>"
        f"<ram:StartDateTime>{_d102(s.period[0])}</ram:StartDateTime>"
        f"<ram:EndDateTime>{_d102(s.period[1])}</ram:EndDateTime></ram:BillingSpecifiedPeriod>"
        if details and s.period
        else ""
    )
    terms = (
        "<ram:SpecifiedTradePaymentTerms>"
        f"<ram:DueDateDateTime>{_d102(s.due)}</ram:DueDateDateTime>"
        "</ram:SpecifiedTradePaymentTerms>"
        if details and s.due
        else ""
    )
    line_total_sum = (
        f"<ram:LineTotalAmount>{money(s.total_excl)}</ram:LineTotalAmount>" if details else ""
    )
    buyer_ref = (
        "<ram:BuyerReference>04011000-12345-34</ram:BuyerReference>"
        if (profile == "xrechnung")
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
 xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
 xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
 xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:ExchangedDocumentContext>
<ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{GUIDELINES[profile]}</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
</rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument>
<ram:ID>{escape(s.number)}</ram:ID>
<ram:TypeCode>{"381" if s.credit_note else "380"}</ram:TypeCode>
<ram:IssueDateTime>{_d102(s.issue)}</ram:IssueDateTime>
</rsm:ExchangedDocument>
<rsm:SupplyChainTradeTransaction>
{items}
<ram:ApplicableHeaderTradeAgreement>
{buyer_ref}
<ram:SellerTradeParty>
<ram:Name>{escape(s.seller_name)}</ram:Name>
{legal}
<ram:PostalTradeAddress><ram:CountryID>{s.seller_country}</ram:CountryID></ram:PostalTradeAddress>
<ram:SpecifiedTaxRegistration>
<ram:ID schemeID="VA">{s.seller_vat}</ram:ID>
</ram:SpecifiedTaxRegistration>
</ram:SellerTradeParty>
<ram:BuyerTradeParty><ram:Name>{escape(s.buyer_name)}</ram:Name>
<ram:SpecifiedLegalOrganization>
<ram:ID schemeID="0002">334175221</ram:ID>
</ram:SpecifiedLegalOrganization>
</ram:BuyerTradeParty>
</ram:ApplicableHeaderTradeAgreement>
<ram:ApplicableHeaderTradeDelivery/>
<ram:ApplicableHeaderTradeSettlement>
<ram:InvoiceCurrencyCode>{c}</ram:InvoiceCurrencyCode>
{payment}
{taxes}
{period}
{terms}
<ram:SpecifiedTradeSettlementHeaderMonetarySummation>
{line_total_sum}
<ram:TaxBasisTotalAmount>{money(s.total_excl)}</ram:TaxBasisTotalAmount>
<ram:TaxTotalAmount currencyID="{c}">{money(s.total_tax)}</ram:TaxTotalAmount>
<ram:GrandTotalAmount>{money(s.total_incl)}</ram:GrandTotalAmount>
<ram:DuePayableAmount>{money(s.total_incl)}</ram:DuePayableAmount>
</ram:SpecifiedTradeSettlementHeaderMonetarySummation>
</ram:ApplicableHeaderTradeSettlement>
</rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>""".encode()
