"""The supplier's name is read from the best evidence on the page: the legal line only the
seller prints about itself, the block that carries its VAT number, its letterhead. A table
header, a label, a title or a signature line is never a name.

The real documents are the shared corpus (../shared/corpora/invoices beside the repository,
see its README); their checked names are compared, never copied into a rule.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from core.extraction import read_pdf
from core.extraction.text_rules import read_text

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora" / "invoices"
_FORMS = frozenset(
    ("sas", "sarl", "sa", "gmbh", "ag", "ltd", "limited", "inc", "llc", "plc", "bv", "nv", "spa")
)


@cache
def _catalogue() -> dict[str, dict[str, Any]]:
    path = CORPUS / "expected.json"
    if not path.is_file():
        return {}
    files: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    return files


def _text_pdfs() -> list[str]:
    return sorted(p for p, e in _catalogue().items() if e["kind"] == "pdf")


def _loose(name: str) -> str:
    """ "CONTOSO LTD." and "Contoso, Ltd." are one supplier, as an accountant reads them."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^\w]+", " ", plain).split()
    return " ".join(w for w in words if w not in _FORMS)


def _name(text: str) -> str | None:
    field = read_text(text).supplier_name
    return None if field is None else field.value


def test_the_text_pdfs_of_the_corpus_are_there() -> None:
    if _catalogue():
        assert len(_text_pdfs()) >= 10
        return
    message = f"the invoice corpus is missing at {CORPUS.resolve()}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("path", _text_pdfs())
def test_every_text_pdf_names_its_seller(path: str) -> None:
    expected = _catalogue()[path]["expected"]["supplier"]
    field = read_pdf((CORPUS / path).read_bytes()).supplier_name
    assert field is not None
    assert _loose(field.value) == _loose(expected)
    assert field.confidence <= 0.6  # read from the page: a guess until a number confirms it


def test_the_legal_line_names_the_seller_above_an_unlabelled_customer_block() -> None:
    text = "\n".join(
        [
            "Date de facture : 02/11/2019",
            "N° de facture : 11608848301659",
            "ALEXINUX SARL",
            "35 B RUE MONTGOLFIER",
            "Total TTC 12,99",
            "TELECOM DU NORD - Société Anonyme au capital de 712 588 399,56 € - "
            "397 480 930 R.C.S. PARIS",
        ]
    )
    assert _name(text) == "TELECOM DU NORD"


@pytest.mark.parametrize(
    ("legal_line", "seller"),
    [
        (
            "Schmidt Werkzeuge GmbH | Amtsgericht München HRB 12345 | Steuernummer 143/123/45678",
            "Schmidt Werkzeuge GmbH",
        ),
        ("Van Dijk Bouw B.V. - KvK 12345678 - BTW NL123456789B01", "Van Dijk Bouw B.V."),
        ("Harbour Supplies Ltd - Registered in England and Wales No. 01234567", "Harbour Supplies"),
    ],
)
def test_a_legal_line_in_any_language_names_the_seller(legal_line: str, seller: str) -> None:
    text = "\n".join(["Description Quantity Price Amount", "Widget 1 10.00 10.00", legal_line])
    name = _name(text)
    assert name is not None
    assert _loose(name) == _loose(seller)


def test_a_register_court_is_not_the_company() -> None:
    text = "\n".join(
        [
            "Registergericht Ansbach, HRB 6089",
            "Müller Online GmbH",
            "Rechnung R0001",
        ]
    )
    assert _name(text) == "Müller Online GmbH"


def test_the_block_carrying_the_vat_number_is_the_sellers() -> None:
    text = "\n".join(
        [
            "Invoice VT/2022/0001",
            "Description Quantity Unit Price Taxes Amount",
            "Cabinet Martin",
            "12 rue du Port",
            "TVA 20% 301.80 €",
            "Total 1,810.80 €",
            "Atelier Lumière",
            "27 rue Henri Rolland",
            "69100 Villeurbanne",
            "France",
            "contact@atelier.example  VAT: FR86792377731",
        ]
    )
    assert _name(text) == "Atelier Lumière"


def test_the_customers_vat_number_does_not_make_its_block_the_sellers() -> None:
    text = "\n".join(
        [
            "Initech lta.",  # the letterhead as OCR misread it
            "Initech Ltd. » 42 Milky Way + 1234 Faraway | Date: 24 Sep 2024",
            "Globex Corp. Start of service: 23 Apr 2024",
            "80085 Springfield Your VAT ID: DE427984273",
        ]
    )
    assert _name(text) == "Initech Ltd."


@pytest.mark.parametrize(
    "top_line",
    [
        "PAYMENT RECEIPT",
        "PAYMENTADVICE",  # a text layer that dropped the spaces
        "I N VO I C E",  # a letter-spaced title
        "for details",
        "Description",
        "(Authorized Signatory)",
        "FACTUUR.",
    ],
)
def test_a_title_label_or_signature_is_never_the_supplier(top_line: str) -> None:
    text = "\n".join([top_line, "Invoice Number INV-0046", "Total 273.13"])
    assert _name(text) is None


def test_a_letterhead_sharing_its_line_with_the_title_is_the_name() -> None:
    text = "\n".join(["Plomberie Durand & Fils INVOICE", "12 rue des Lilas", "Total 12.00"])
    assert _name(text) == "Plomberie Durand & Fils"


def test_a_company_at_the_foot_of_a_receipt_outranks_nothing_at_the_top() -> None:
    text = "\n".join(
        [
            "Date: 9/10/2020",
            "Sold To Wingtip Toys",
            "554 Magnolia Way",
            "",
            "Training Date Description Price Discount Line Total",
            "Thank you for your business!",
            "Northwind, Ltd.",
            "Subtotal $10,375",
        ]
    )
    assert _name(text) == "Northwind, Ltd."


def test_a_name_glued_by_the_text_layer_gets_its_spaces_back() -> None:
    text = "\n".join(["Customer BaysideWholesale", "", "Total 12.00", "NorthwindTradersInc."])
    assert _name(text) == "Northwind Traders Inc."


def test_ocr_specks_before_the_name_are_dropped() -> None:
    text = "\n".join(["F e j Fabrikam", "123 Main Street", "Total $1203.39"])
    assert _name(text) == "Fabrikam"
