"""Known invoices the extraction tests generate their documents from.

Generating UBL, CII, PDFs and visible text from one `Sample` lets each test compare what
the engine read with what was written, field by field, instead of hand-copied answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Sample:
    number: str
    issue: date
    seller_name: str
    seller_vat: str
    seller_siren: str | None
    lines: tuple[Line, ...]
    currency: str = "EUR"
    due: date | None = None
    period: tuple[date, date] | None = None
    iban: str | None = None
    buyer_name: str = "Client Courier SARL"
    credit_note: bool = False
    seller_country: str = "FR"

    def breakdown(self) -> list[tuple[Decimal, Decimal, Decimal]]:
        """(rate, base, tax) per rate, tax rounded half-up per rate as EN 16931 does."""
        bases: dict[Decimal, Decimal] = {}
        for line in self.lines:
            bases[line.rate] = bases.get(line.rate, Decimal(0)) + line_total(line)
        return [
            (rate, base, (base * rate / 100).quantize(CENT, ROUND_HALF_UP))
            for rate, base in sorted(bases.items())
        ]

    @property
    def total_excl(self) -> Decimal:
        return sum((base for _, base, _ in self.breakdown()), Decimal(0))

    @property
    def total_tax(self) -> Decimal:
        return sum((tax for _, _, tax in self.breakdown()), Decimal(0))

    @property
    def total_incl(self) -> Decimal:
        return self.total_excl + self.total_tax


def line_total(line: Line) -> Decimal:
    return (line.quantity * line.unit_price).quantize(CENT, ROUND_HALF_UP)


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def visible_lines(s: Sample) -> list[str]:
    """What a French supplier's PDF would show for `s`, to read back as text."""
    out = [
        s.seller_name,
        f"SIREN : {s.seller_siren}" if s.seller_siren else "",
        f"N° TVA intracommunautaire : {s.seller_vat}",
        f"{'Avoir' if s.credit_note else 'Facture'} n° {s.number}",
        f"Date de facture : {s.issue:%d/%m/%Y}",
    ]
    if s.due:
        out.append(f"Date d'échéance : {s.due:%d/%m/%Y}")
    if s.period:
        out.append(f"Période du {s.period[0]:%d/%m/%Y} au {s.period[1]:%d/%m/%Y}")
    for rate, base, tax in s.breakdown():
        out.append(f"TVA {fr(rate)} % sur {fr(base)} : {fr(tax)} {s.currency}")
    out += [
        f"Total HT : {fr(s.total_excl)} {s.currency}",
        f"Total TVA : {fr(s.total_tax)} {s.currency}",
        f"Total TTC : {fr(s.total_incl)} {s.currency}",
    ]
    if s.iban:
        out.append(f"IBAN : {s.iban}")
    return [line for line in out if line]


def fr(value: Decimal) -> str:
    """French number style with a plain-space thousands separator: 1 234,56."""
    if value == value.to_integral() and value < 100 and value.as_tuple().exponent == 0:
        return str(value)
    text = f"{value:,.2f}"
    return text.replace(",", " ").replace(".", ",")


# --------------------------------------------------------------------------- corpus

D = Decimal

BAKERY = Sample(
    number="FA-2026-0042",
    issue=date(2026, 11, 15),
    due=date(2026, 12, 15),
    period=(date(2026, 11, 1), date(2026, 11, 30)),
    seller_name="Boulangerie Dupont SAS",
    seller_vat="FR40303265045",
    seller_siren="303265045",
    iban="FR7630006000011234567890189",
    lines=(
        Line("Pain de campagne", D("120"), D("1.10"), D("5.5")),
        Line("Viennoiseries", D("40"), D("0.95"), D("10")),
        Line("Location four", D("1"), D("450.00"), D("20")),
    ),
)
ACME_UK = Sample(
    number="INV-10077",
    issue=date(2026, 3, 2),
    due=date(2026, 4, 1),
    currency="GBP",
    seller_name="Acme Supplies Ltd",
    seller_vat="GB980780684",
    seller_siren=None,
    seller_country="GB",
    iban="GB29NWBK60161331926819",
    buyer_name="Courier Customer Ltd",
    lines=(Line("Consulting, 1 day", D("2"), D("650.00"), D("20")),),
)
PRINTER_CREDIT = Sample(
    number="AV-2026-007",
    issue=date(2026, 6, 30),
    due=date(2026, 7, 30),
    seller_name="Imprimerie Martin SARL",
    seller_vat="FR44732829320",
    seller_siren="732829320",
    iban="FR7630006000011234567890189",
    credit_note=True,
    lines=(Line("Avoir sur commande 2026-118", D("1"), D("1234.56"), D("20")),),
)
BERLIN = Sample(
    number="RE-2026-5501",
    issue=date(2026, 1, 31),
    due=date(2026, 2, 28),
    period=(date(2026, 1, 1), date(2026, 1, 31)),
    seller_name="Muster Software GmbH",
    seller_vat="DE136695976",
    seller_siren=None,
    seller_country="DE",
    iban="DE89370400440532013000",
    lines=(
        Line("Lizenz", D("3"), D("99.90"), D("19")),
        Line("Fachbuch", D("1"), D("45.00"), D("7")),
    ),
)
SAMPLES = {"bakery": BAKERY, "acme_uk": ACME_UK, "printer_credit": PRINTER_CREDIT, "berlin": BERLIN}
