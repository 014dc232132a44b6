"""French invoice texts in the layouts PDF text layers come in, with answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.extraction.fields import VatLine
from tests.unit.extraction.text_samples import NBSP, NNBSP, TextSample

D = Decimal

FRENCH = (
    TextSample(
        "fr_classic_table",
        """PLOMBERIE MARTIN SARL
12 rue des Lilas, 69003 Lyon
SIRET : 732 829 320 00074
N° TVA : FR 44 732 829 320

Client : Boulangerie Dupont SAS
TVA client : FR40303265045

FACTURE N° 2026-11-042
Date : 15/11/2026
Échéance : 15/12/2026

Désignation                Qté   PU HT     Total HT
Remplacement chauffe-eau     1   850,00    850,00
Main d'œuvre                 3    45,00    135,00

Total HT        985,00 €
TVA 20 %        197,00 €
Total TTC     1 182,00 €
IBAN : FR76 3000 6000 0112 3456 7890 189   BIC : AGRIFRPP
""",
        {
            "supplier_name": "PLOMBERIE MARTIN SARL",
            "supplier_vat": "FR44732829320",
            "supplier_siren": "732829320",
            "invoice_number": "2026-11-042",
            "document_type": "invoice",
            "issue_date": date(2026, 11, 15),
            "due_date": date(2026, 12, 15),
            "currency": "EUR",
            "total_excl_tax": D("985.00"),
            "total_tax": D("197.00"),
            "total_incl_tax": D("1182.00"),
            "vat_lines": (VatLine(D(20), D("985.00"), D("197.00")),),
            "iban": "FR7630006000011234567890189",
        },
    ),
    TextSample(
        "fr_nnbsp_month_names_multi_rate",
        f"""Épicerie Fine Lemoine SAS
Facture n° FL-7781 du 3 novembre 2026
Prestations : période du 1er octobre 2026 au 31 octobre 2026
RCS Paris B 303 265 045 — TVA intracommunautaire FR40303265045
Montant HT{NNBSP}: 1{NNBSP}250,00{NBSP}€
TVA 5,5 % sur 1{NNBSP}000,00 : 55,00{NBSP}€
TVA 20 % sur 250,00 : 50,00{NBSP}€
Total TVA : 105,00{NBSP}€
Net à payer : 1{NNBSP}355,00{NBSP}€
À payer avant le 3 décembre 2026
""",
        {
            "supplier_name": "Épicerie Fine Lemoine SAS",
            "supplier_vat": "FR40303265045",
            "supplier_siren": "303265045",
            "invoice_number": "FL-7781",
            "document_type": "invoice",
            "issue_date": date(2026, 11, 3),
            "due_date": date(2026, 12, 3),
            "period_start": date(2026, 10, 1),
            "period_end": date(2026, 10, 31),
            "currency": "EUR",
            "total_excl_tax": D("1250.00"),
            "total_tax": D("105.00"),
            "total_incl_tax": D("1355.00"),
            "vat_lines": (
                VatLine(D("5.5"), D("1000.00"), D("55.00")),
                VatLine(D(20), D("250.00"), D("50.00")),
            ),
        },
    ),
    TextSample(
        "fr_header_rows_then_value_rows",
        """SARL Transports Rapides
Facture - montants en euros
Numéro de facture    Date de facture    Date d'échéance
F2026-0315           05/02/2026         07/03/2026

Total HT     Total TVA     Total TTC
2 000,00     400,00        2 400,00
SIREN 552 100 554
""",
        {
            "supplier_name": "SARL Transports Rapides",
            "supplier_siren": "552100554",
            "invoice_number": "F2026-0315",
            "document_type": "invoice",
            "issue_date": date(2026, 2, 5),
            "due_date": date(2026, 3, 7),
            "currency": "EUR",
            "total_excl_tax": D("2000.00"),
            "total_tax": D("400.00"),
            "total_incl_tax": D("2400.00"),
        },
    ),
    TextSample(
        "fr_micro_entrepreneur_no_vat",
        """Julie Moreau – Graphiste
SIRET 303 265 045 00003
Facture N° : JM-2026-014
Fait le 20/01/2026
TVA non applicable, art. 293 B du CGI
Total : 600,00 €
Conditions : paiement à 30 jours
""",
        {
            "supplier_name": "Julie Moreau – Graphiste",
            "supplier_siren": "303265045",
            "invoice_number": "JM-2026-014",
            "document_type": "invoice",
            "issue_date": date(2026, 1, 20),
            "currency": "EUR",
            "total_incl_tax": D("600.00"),
        },
    ),
    TextSample(
        "fr_credit_note_swiss_style_numbers",
        """Imprimerie Martin SARL
AVOIR N° AV-2026-007
Date de l'avoir : 30.06.2026
Total HT : 1.234,56 EUR
TVA 20 % : 246,91 EUR
Total TTC : 1.481,47 EUR
""",
        {
            "supplier_name": "Imprimerie Martin SARL",
            "invoice_number": "AV-2026-007",
            "document_type": "credit_note",
            "issue_date": date(2026, 6, 30),
            "currency": "EUR",
            "total_excl_tax": D("1234.56"),
            "total_tax": D("246.91"),
            "total_incl_tax": D("1481.47"),
            "vat_lines": (VatLine(D(20), D("1234.56"), D("246.91")),),
        },
    ),
    TextSample(
        "fr_chf_apostrophe_thousands",
        """Alpine Conseil SA
Facture n° CH-2026-77
Date : 01.12.2026
Échéance : 31.12.2026
Total HT CHF 1'000.00
TVA 8,1 % CHF 81.00
Total TTC CHF 1'081.00
""",
        {
            "supplier_name": "Alpine Conseil SA",
            "invoice_number": "CH-2026-77",
            "document_type": "invoice",
            "issue_date": date(2026, 12, 1),
            "due_date": date(2026, 12, 31),
            "currency": "CHF",
            "total_excl_tax": D("1000.00"),
            "total_tax": D("81.00"),
            "total_incl_tax": D("1081.00"),
            "vat_lines": (VatLine(D("8.1"), D("1000.00"), D("81.00")),),
        },
    ),
    TextSample(
        "fr_impossible_date",
        """Garage Central SAS
Facture n° G-4410
Date de facture : 31/02/2026
Montant HT : 100,00 €
Montant TVA : 20,00 €
Montant TTC : 120,00 €
""",
        {
            "supplier_name": "Garage Central SAS",
            "invoice_number": "G-4410",
            "document_type": "invoice",
            "currency": "EUR",
            "total_excl_tax": D("100.00"),
            "total_tax": D("20.00"),
            "total_incl_tax": D("120.00"),
        },
        frozenset({"invalid_date"}),
    ),
    TextSample(
        "fr_unlabelled_total_guessed",
        """Le Petit Café
Reçu
12/03/2026
Café crème     2,50 €
Croissant      1,20 €
               3,70 €
""",
        {
            "supplier_name": "Le Petit Café",
            "document_type": "receipt",
            "issue_date": date(2026, 3, 12),
            "currency": "EUR",
            "total_incl_tax": D("3.70"),
        },
    ),
)
