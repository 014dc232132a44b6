"""Tell an invoice's issue date from its due date and billing period in plain text.

Every date is classified by the label written before it ("Échéance", "Due date",
"Période du … au …", "Date de facture"); dates under other labels (delivery, order) are
ignored. When nothing is labelled as the issue date, the first free-standing date is
taken as a guess with low confidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from core.extraction.dates import DateMatch, find_dates
from core.extraction.fields import Field
from core.extraction.labels import IGNORE, Label, pair_labels

GUESSED = 0.5
_CONFIDENCE_BY_PRIORITY = {3: 0.85, 2: 0.8, 1: 0.75}


def _label(kind: str, priority: int, pattern: str) -> Label:
    return Label(kind, priority, re.compile(pattern, re.IGNORECASE))


# Period labels come first so that at equal length "du … au …" reads as a period.
DATE_LABELS = (
    _label("period", 3, r"p[ée]riode(?:\s+(?:de\s+)?factur\w+)?(?:\s*:)?(?:\s+du)?"),
    _label("period", 3, r"(?:billing|service|invoice)\s+period(?:\s*:)?(?:\s+from)?"),
    _label("period", 2, r"prestations?\s+du|\bdu(?=\s+\d[^\n]*?\bau\b)|\bfrom(?=[^\n]*?\bto\b)"),
    _label(IGNORE, 0, r"date\s+de\s+(?:livraison|commande|exp[ée]dition|naissance|valeur)"),
    _label(IGNORE, 0, r"(?:delivery|order|shipping|ship|dispatch)\s+date|date\s+of\s+supply"),
    _label(IGNORE, 0, r"bon\s+de\s+(?:livraison|commande)|command[ée]\s+le|livr[ée]\s+le"),
    _label("due", 3, r"(?:date\s+(?:d['’]\s?)?)?[ée]ch[ée]ance|date\s+limite(?:\s+de\s+\w+)?"),
    _label("due", 3, r"[àa]\s+(?:payer|r[ée]gler)\s+(?:avant|au\s+plus\s+tard|le)(?:\s+le)?"),
    _label("due", 3, r"payable\s+(?:avant|le|au\s+plus\s+tard|by|on|before)(?:\s+le)?"),
    _label("due", 3, r"due\s+date|date\s+due|payment\s+due(?:\s+(?:date|by|on))?"),
    _label("due", 3, r"\bdue\s+(?:by|on|before)\b|\bpay\s+by\b|\bdue\s*:"),
    _label("issue", 3, r"date\s+(?:de\s+(?:la\s+)?)?(?:facture|facturation|l['’]avoir)"),
    _label("issue", 3, r"date\s+d['’]\s?[ée]mission|[ée]mise?\s+le|fait\s+le"),
    _label("issue", 3, r"invoice\s+date|date\s+of\s+(?:issue|invoice)|issue\s+date"),
    _label("issue", 3, r"\bissued(?:\s+on)?\b|credit\s+note\s+date|tax\s+point"),
    _label("issue", 2, r"\bdu\b|\bdated\b|(?:^|,)\s*le\b"),
    _label("issue", 1, r"\bdate\b"),
    # German, Dutch, Spanish, Italian.
    _label(IGNORE, 0, r"liefer\w*datum|leistungs\w*datum|leverdatum|leveringsdatum"),
    _label(IGNORE, 0, r"fecha\s+de\s+(?:entrega|pedido)|data\s+(?:di\s+)?(?:consegna|ordine)"),
    _label("due", 3, r"f[äa]llig(?:keitsdatum|\s+(?:am|bis))?|zahlbar\s+bis|zahlungsziel"),
    _label("due", 3, r"vervaldatum|vervaldag|uiterste\s+betaaldatum|te\s+betalen\s+v[oó][oó]r"),
    _label("due", 3, r"fecha\s+(?:de\s+)?vencimiento|vencimiento|data\s+(?:di\s+)?scadenza"),
    _label("due", 3, r"\bscadenza\b"),
    _label("issue", 3, r"rechnungsdatum|datum\s+der\s+rechnung|factuurdatum|datum\s+factuur"),
    _label("issue", 3, r"fecha\s+(?:de\s+)?(?:la\s+)?(?:factura|emisi[óo]n|expedici[óo]n)"),
    _label("issue", 3, r"data\s+(?:della\s+|di\s+)?(?:fattura|emissione|documento)"),
    # A letter's place and date: "München, den 01.11.2024", "Madrid, a 3 de mayo".
    _label("issue", 2, r"(?<=\w),\s*(?:den|am|el|il|a)\b"),
    _label("issue", 1, r"\bdatum\b|\bfecha\b|\bdata\b"),
)


@dataclass(frozen=True, slots=True)
class Dates:
    issue_date: Field[date] | None
    due_date: Field[date] | None
    period_start: Field[date] | None
    period_end: Field[date] | None
    warnings: tuple[str, ...]


def read_dates(lines: Sequence[str], *, month_first: bool = False) -> Dates:
    """Classify the dates of a document given as lines of text."""

    def find(line: str) -> list[DateMatch]:
        return find_dates(line, month_first=month_first)

    pairings, unlabelled = pair_labels(lines, DATE_LABELS, find)
    warnings: list[str] = []
    if any(d.value is None for p in pairings for d in p.values) or any(
        d.value is None for _, d in unlabelled
    ):
        warnings.append("invalid_date")

    best: dict[str, tuple[int, Field[date]]] = {}
    period: tuple[Field[date], Field[date]] | None = None
    for pairing in pairings:
        valid = [d.value for d in pairing.values if d.value is not None]
        if not valid:
            continue
        confidence = _CONFIDENCE_BY_PRIORITY[pairing.hit.priority]
        if pairing.zipped:
            confidence = round(confidence - 0.05, 2)
        kind = pairing.hit.kind
        if kind == "period":
            if period is None and len(valid) >= 2:
                start, end = sorted(valid[:2])
                period = (Field(start, "text", confidence), Field(end, "text", confidence))
            continue
        # The first date under the strongest label wins: issue and due dates head the page.
        if kind not in best or pairing.hit.priority > best[kind][0]:
            best[kind] = (pairing.hit.priority, Field(valid[0], "text", confidence))

    issue = best["issue"][1] if "issue" in best else None
    if issue is None:
        free = [d.value for _, d in unlabelled if d.value is not None]
        if free:
            issue = Field(free[0], "text", GUESSED)
    due = best["due"][1] if "due" in best else None
    if issue is not None and due is not None and due.value < issue.value:
        warnings.append("due_before_issue")
        due = Field(due.value, "text", min(due.confidence, GUESSED))

    return Dates(
        issue_date=issue,
        due_date=due,
        period_start=None if period is None else period[0],
        period_end=None if period is None else period[1],
        warnings=tuple(warnings),
    )
