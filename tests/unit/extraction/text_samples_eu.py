"""German, Dutch, Spanish and Italian invoice texts, and the lines that are never the
supplier (a table header, a signature, the buyer's block), with answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.extraction.fields import VatLine
from tests.unit.extraction.text_samples import TextSample

D = Decimal

OTHER_LANGUAGES = (
    TextSample(
        "de_sender_line_and_recipient_block",
        """Muster Handel GmbH • Hauptstraße 1 • 10115 Berlin

Rechnungsempfänger
Beispiel Werkzeuge AG
Industrieweg 5, 80331 München

Rechnung
Rechnungsnummer: RE-2024-117
Rechnungsdatum: 05.03.2024
Fällig am: 19.03.2024

Beschreibung        Menge   Einzelpreis   Betrag
Wartung               2       50,00 €     100,00 €

Nettobetrag                              100,00 €
MwSt. 19 %                                19,00 €
Gesamtbetrag                             119,00 €
""",
        {
            "supplier_name": "Muster Handel GmbH",
            "invoice_number": "RE-2024-117",
            "document_type": "invoice",
            "issue_date": date(2024, 3, 5),
            "due_date": date(2024, 3, 19),
            "currency": "EUR",
            "total_excl_tax": D("100.00"),
            "total_tax": D("19.00"),
            "total_incl_tax": D("119.00"),
            "vat_lines": (VatLine(D(19), D("100.00"), D("19.00")),),
        },
    ),
    TextSample(
        "nl_labels_below_values",
        """Bakkerij De Molen B.V.
Dorpsstraat 12, 1234 AB Utrecht

Factuur
Factuurnummer      Factuurdatum      Vervaldatum
2024-0055          12-02-2024        12-03-2024

Klant
Koffiehuis Centraal

Omschrijving          Aantal    Prijs      Bedrag
Broodjes                 40      1,50      60,00

Subtotaal                                  € 60,00
BTW 9%                                      € 5,40
Totaal incl. btw                           € 65,40
""",
        {
            "supplier_name": "Bakkerij De Molen B.V.",
            "invoice_number": "2024-0055",
            "document_type": "invoice",
            "issue_date": date(2024, 2, 12),
            "due_date": date(2024, 3, 12),
            "currency": "EUR",
            "total_excl_tax": D("60.00"),
            "total_tax": D("5.40"),
            "total_incl_tax": D("65.40"),
            "vat_lines": (VatLine(D(9), D("60.00"), D("5.40")),),
        },
    ),
    TextSample(
        "es_factura",
        """Distribuciones Norte S.L.
Calle Mayor 8, 28013 Madrid

Facturar a:
Cliente Ejemplo S.A.

Número de factura: F-2024-881
Fecha de emisión: 15/04/2024
Fecha de vencimiento: 15/05/2024

Base imponible          200,00 €
IVA 21%                  42,00 €
Importe total           242,00 €
""",
        {
            "supplier_name": "Distribuciones Norte S.L.",
            "invoice_number": "F-2024-881",
            "document_type": "invoice",
            "issue_date": date(2024, 4, 15),
            "due_date": date(2024, 5, 15),
            "currency": "EUR",
            "total_excl_tax": D("200.00"),
            "total_tax": D("42.00"),
            "total_incl_tax": D("242.00"),
            "vat_lines": (VatLine(D(21), D("200.00"), D("42.00")),),
        },
    ),
    TextSample(
        "it_fattura",
        """Officine Rossi S.r.l.
Via Roma 10, 20121 Milano

Spett.le
Cliente Prova SpA

Fattura
Numero fattura: 54321
Data fattura: 10/02/2022
Data scadenza: 10/03/2022

Imponibile              110,00 €
IVA 22%                  24,20 €
Totale fattura          134,20 €
""",
        {
            "supplier_name": "Officine Rossi S.r.l.",
            "invoice_number": "54321",
            "document_type": "invoice",
            "issue_date": date(2022, 2, 10),
            "due_date": date(2022, 3, 10),
            "currency": "EUR",
            "total_excl_tax": D("110.00"),
            "total_tax": D("24.20"),
            "total_incl_tax": D("134.20"),
            "vat_lines": (VatLine(D(22), D("110.00"), D("24.20")),),
        },
    ),
    TextSample(
        "en_header_and_signature_lines_are_no_supplier",
        """Description   Quantity   Unit Price   Amount
(Authorized Signatory)
for details
Harbour Tools

Bill to:
Client Corp Ltd

Invoice No: HT-300
Invoice Date: 3 June 2024
Total £48.00
""",
        {
            "supplier_name": "Harbour Tools",
            "invoice_number": "HT-300",
            "document_type": "invoice",
            "issue_date": date(2024, 6, 3),
            "currency": "GBP",
            "total_incl_tax": D("48.00"),
        },
    ),
    TextSample(
        "de_rate_before_its_label_and_a_base_tax_gross_row",
        """Autovermietung Süd GmbH
Rechnung Nr. 2015-77
Datum: 01.11.2024
Nettobetrag  (zzgl. 19,00% MwSt.)        200,00
19,00% MwSt.: 200,00 38,00 238,00
Summe gesamt 238,00
""",
        {
            "supplier_name": "Autovermietung Süd GmbH",
            "invoice_number": "2015-77",
            "document_type": "invoice",
            "issue_date": date(2024, 11, 1),
            "total_excl_tax": D("200.00"),
            "total_tax": D("38.00"),
            "total_incl_tax": D("238.00"),
            "vat_lines": (VatLine(D("19.00"), D("200.00"), D("38.00")),),
        },
    ),
)
