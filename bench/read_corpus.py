"""Reading accuracy on real documents: ``python -m bench.read_corpus [DIR] [--misses] [--learn]``.

DIR holds documents and an ``expected.json`` in the format of
``../shared/corpora/invoices/`` (the default, beside the repository). Every file goes
through Courier's real reader, as ``courier extract`` and the scheduler run it: its type
sniffed from its bytes, read in the sandbox worker under the production limits (30 s,
512 MB). Printed:

- accuracy per field and per kind (einvoice, pdf, scan, photo), and for e-invoices the
  files exact on every total and identifier;
- the calibration table: each confidence bucket and the share of its values that were
  right, and the share right at or above the auto-accept threshold;
- pages per second for text PDFs and for OCR (scans and photos), worker start excluded,
  and the worker's peak RSS;
- the text-PDF reading's pages per second in-process against a baseline run side by side
  (pypdf's text in its reading order, the reader before layout-aware reading), as a ratio
  that a busy machine does not skew; and the same for OCR (bench/ocr_ratio.py).

With ``--learn``, learning from one correction is measured too: for each supplier with two
documents or more (e-invoices aside: their XML is read exactly without a template), the
first one (in path order) is corrected as a person would in review, with its expected
values; a template is learned from it (core/extraction/learned.py), and the second one is
read with it (the currency the person gave filling an unsure one, as a supplier's habit
does). Printed side by side, same run: the share of fields right on the second
documents without learning and with the learned template, and how often the learned
template's values at or above the auto-accept threshold were right.

Values are compared the way an accountant would: amounts as Decimals, dates as dates,
VAT lines as a set of (rate, base, amount), VAT numbers and invoice numbers without
spaces, supplier names loosely (case, accents, punctuation and legal forms ignored). A
value read for a field the document does not state counts as wrong in the calibration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import re
import resource
import time
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bench.ocr_ratio import ocr_ratio
from core.extraction import ExtractionError, InvoiceData
from core.extraction.fields import get_field
from core.extraction.sandbox import read_document, shutdown_sandbox
from core.services.reading import TRUSTED_CONFIDENCE
from core.sniff import sniff_content_type

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "invoices"
KINDS = ("einvoice", "pdf", "scan", "photo")
# The corpus's field names, and the engine's where they differ.
FIELDS: dict[str, str] = {
    "supplier": "supplier_name",
    "supplier_vat": "supplier_vat",
    "invoice_number": "invoice_number",
    "issue_date": "issue_date",
    "due_date": "due_date",
    "currency": "currency",
    "total_excl_tax": "total_excl_tax",
    "total_tax": "total_tax",
    "total_incl_tax": "total_incl_tax",
    "vat_lines": "vat_lines",
    "document_type": "document_type",
}
EXACT_EINVOICE_FIELDS = (
    "supplier_vat",
    "invoice_number",
    "total_excl_tax",
    "total_tax",
    "total_incl_tax",
    "vat_lines",
)
BUCKETS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
TIMEOUT_SECONDS = 30.0
MEMORY_MB = 512
MAX_TEXT_PAGES = 20
MAX_OCR_PAGES = 3
_LEGAL_FORMS = frozenset(
    re.split(
        r"\s+",
        "sas sasu sarl sa eurl sci gmbh ag kg co ohg ug ltd limited inc llc plc bv nv ab as "
        "spa srl sl oy aps corp corporation company",
    )
)


@dataclass(slots=True)
class Score:
    right: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.right += ok
        self.total += 1

    def cell(self) -> str:
        return f"{self.right}/{self.total}" if self.total else "-"

    def percent(self) -> str:
        return f"{self.right / self.total:.1%}" if self.total else "-"


@dataclass(slots=True)
class Results:
    by_field_kind: dict[tuple[str, str], Score] = field(default_factory=lambda: defaultdict(Score))
    by_kind: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    extra: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    files: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    einvoice_exact: Score = field(default_factory=Score)
    calibration: dict[int, Score] = field(default_factory=lambda: defaultdict(Score))
    errors: list[tuple[str, str]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    pages: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def kind_of(entry: dict[str, Any]) -> str:
    kind = str(entry["kind"])
    return "einvoice" if kind.startswith("einvoice") else kind


def normalise_name(name: str) -> str:
    """ "CONTOSO LTD." and "Contoso, Ltd" are one supplier; so are "Gandi SAS" and "GANDI"."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^\w]+", " ", plain).split()
    kept = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(kept or words)


def _compact(value: str) -> str:
    return re.sub(r"\s+", "", value).lstrip("#").casefold()


def _decimal(raw: object) -> Decimal | None:
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return None


def _vat_lines(lines: Sequence[Any]) -> list[tuple[Decimal | None, ...]]:
    def key(line: Any) -> tuple[Decimal | None, ...]:
        if isinstance(line, dict):
            return (_decimal(line["rate"]), _decimal(line.get("base")), _decimal(line["amount"]))
        return (line.rate, line.base, line.amount)

    return sorted((key(line) for line in lines), key=str)


def same(name: str, expected: Any, got: Any) -> bool:
    """Whether `got` (the engine's value) is `expected` (the corpus's) to an accountant."""
    if name == "supplier":
        return normalise_name(str(expected)) == normalise_name(str(got))
    if name == "supplier_vat":
        return re.sub(r"[^A-Z0-9]", "", str(expected).upper()) == re.sub(
            r"[^A-Z0-9]", "", str(got).upper()
        )
    if name == "invoice_number":
        return _compact(str(expected)) == _compact(str(got))
    if name in ("issue_date", "due_date"):
        return isinstance(got, date) and date.fromisoformat(str(expected)) == got
    if name.startswith("total_"):
        return isinstance(got, Decimal) and _decimal(expected) == got
    if name == "vat_lines":
        return _vat_lines(expected) == _vat_lines(got)
    return str(expected).casefold() == str(got).casefold()


def _bucket(confidence: float) -> int:
    for index in range(len(BUCKETS) - 1, -1, -1):
        if confidence >= BUCKETS[index]:
            return index
    return 0


def _pages(kind: str, path: str, entry: dict[str, Any]) -> tuple[str, int]:
    """Which throughput a file counts towards, and how many pages the reader reads of it."""
    pages = int(entry.get("pages") or 1)
    if kind == "pdf":
        return "text", min(pages, MAX_TEXT_PAGES)
    if kind in ("scan", "photo"):
        return "ocr", min(pages, MAX_OCR_PAGES) if path.endswith(".pdf") else 1
    return "einvoice", 1


def score_file(results: Results, path: str, entry: dict[str, Any], data: InvoiceData) -> None:
    kind = kind_of(entry)
    expected: dict[str, Any] = entry["expected"]
    exact = True
    for name, attribute in FIELDS.items():
        found = get_field(data, attribute)
        stated = name in expected
        ok = stated and found is not None and same(name, expected[name], found.value)
        if stated:
            results.by_field_kind[(name, kind)].add(ok)
            results.by_field_kind[(name, "all")].add(ok)
            results.by_kind[kind].add(ok)
            results.files[path].add(ok)
            if not ok:
                shown = None if found is None else found.value
                results.misses.append(f"  {path}: {name} expected {expected[name]!r} got {shown!r}")
        elif found is not None:
            results.extra[kind] += 1
        if kind == "einvoice" and name in EXACT_EINVOICE_FIELDS and stated and not ok:
            exact = False
        if found is not None:
            results.calibration[_bucket(found.confidence)].add(ok)
    if kind == "einvoice":
        results.einvoice_exact.add(exact)


def text_layer_ratio(directory: Path, paths: Sequence[str], rounds: int = 3) -> str:
    """Pages per second of the text-PDF reading, in this process, against a baseline run
    side by side: the text layer read by pypdf in its reading order (the reader before
    layout-aware reading), each followed by the same text rules. Interleaved file by file
    so both see the same load on a busy machine."""
    from pypdf import PdfReader

    from core.extraction.pdf import extract_pdf_text
    from core.extraction.text_rules import read_text

    def plain(content: bytes) -> str:
        reader = PdfReader(io.BytesIO(content))
        return "\n\n".join(p.extract_text() or "" for p in reader.pages[:MAX_TEXT_PAGES])

    seconds = {"layout": 0.0, "baseline": 0.0}
    pages = 0
    for path in paths:
        content = (directory / path).read_bytes()
        for _ in range(rounds):
            for name, extract in (("layout", extract_pdf_text), ("baseline", plain)):
                started = time.perf_counter()
                read_text(extract(content))
                seconds[name] += time.perf_counter() - started
        pages += rounds * min(int(_PAGES.get(path, 1)), MAX_TEXT_PAGES)
    layout, baseline = (pages / seconds[n] if seconds[n] else 0.0 for n in ("layout", "baseline"))
    ratio = layout / baseline if baseline else 0.0
    return (
        f"text_layer pages_per_s layout={layout:.2f} baseline_pypdf={baseline:.2f} "
        f"ratio={ratio:.2f} ({pages} pages each, in-process, same run, interleaved)"
    )


_PAGES: dict[str, int] = {}


async def read_all(directory: Path) -> Results:
    catalogue = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    files: dict[str, dict[str, Any]] = catalogue["files"]
    results = Results()
    # Start the worker, and its PDF code, before the clock runs: a start-up is not a read.
    first_pdf = next((p for p in sorted(files) if kind_of(files[p]) == "pdf"), None)
    if first_pdf is not None:
        with contextlib.suppress(ExtractionError):
            content = (directory / first_pdf).read_bytes()
            await read_document(content, "application/pdf", memory_mb=MEMORY_MB)
    try:
        for path in sorted(files):
            entry = files[path]
            content = (directory / path).read_bytes()
            content_type = sniff_content_type(content, Path(path).name)
            started = time.perf_counter()
            try:
                data = await read_document(
                    content, content_type, timeout=TIMEOUT_SECONDS, memory_mb=MEMORY_MB
                )
            except ExtractionError as err:
                results.errors.append((path, err.reason))
                data = InvoiceData()
            elapsed = time.perf_counter() - started
            kind = kind_of(entry)
            bench, pages = _pages(kind, path, entry)
            _PAGES[path] = int(entry.get("pages") or 1)
            results.seconds[bench] += elapsed
            results.pages[bench] += pages
            score_file(results, path, entry, data)
    finally:
        shutdown_sandbox()
    return results


def report(results: Results, directory: Path, *, misses: bool) -> str:
    out = [f"read_corpus dir={directory.resolve()} files={len(results.files)}"]
    for path, reason in results.errors:
        out.append(f"  error {path}: {reason}")
    out.append("")
    out.append("accuracy per field (right/stated)")
    columns = (*KINDS, "all")
    out.append(f"{'field':<16}" + "".join(f"{c:>10}" for c in columns))
    for name in FIELDS:
        cells = [results.by_field_kind[(name, c)].cell() for c in columns]
        out.append(f"{name:<16}" + "".join(f"{c:>10}" for c in cells))
    out.append("")
    out.append("accuracy per kind")
    out.append(f"{'kind':<10}{'files':>6}{'fields':>10}{'share':>9}{'extra':>7}")
    everything = Score()
    non_einvoice = Score()
    for kind in KINDS:
        s = results.by_kind[kind]
        files = sum(1 for p in results.files if p.split("/")[0] == kind)
        out.append(f"{kind:<10}{files:>6}{s.cell():>10}{s.percent():>9}{results.extra[kind]:>7}")
        everything.right += s.right
        everything.total += s.total
        if kind != "einvoice":
            non_einvoice.right += s.right
            non_einvoice.total += s.total
    out.append(
        f"{'all':<10}{len(results.files):>6}{everything.cell():>10}{everything.percent():>9}"
    )
    out.append(f"{'non-einv':<10}{'':>6}{non_einvoice.cell():>10}{non_einvoice.percent():>9}")
    exact = results.einvoice_exact
    out.append(
        f"einvoice files exact on totals, VAT lines and identifiers: {exact.cell()} "
        f"({exact.percent()}; goal 100%)"
    )
    out.append("")
    out.append("calibration (confidence of each value read -> share right)")
    out.append(f"{'bucket':<14}{'values':>8}{'right':>8}{'share':>9}")
    accepted = Score()
    for index, lower in enumerate(BUCKETS):
        upper = BUCKETS[index + 1] if index + 1 < len(BUCKETS) else None
        label = f"[{lower:.2f},{upper:.2f})" if upper is not None else "1.00"
        s = results.calibration[index]
        out.append(f"{label:<14}{s.total:>8}{s.right:>8}{s.percent():>9}")
        if lower >= TRUSTED_CONFIDENCE:
            accepted.right += s.right
            accepted.total += s.total
    out.append(
        f"at or above the auto-accept threshold {TRUSTED_CONFIDENCE:g}: {accepted.cell()} right "
        f"({accepted.percent()}; goal 97%)"
    )
    out.append("")
    for bench, goal in (("text", 20.0), ("ocr", 1.0)):
        pages, seconds = results.pages[bench], results.seconds[bench]
        rate = pages / seconds if seconds else 0.0
        out.append(
            f"pages_per_s {bench}={rate:.2f} goal>={goal:g} ({pages} pages in {seconds:.1f}s, "
            f"sandbox worker, one core)"
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out.append(f"worker_peak_rss_mb={peak:.0f} limit_mb={MEMORY_MB}")
    if misses:
        out.append("")
        out.append("misses")
        out.extend(results.misses)
    return "\n".join(out)


# The corpus fields a person can correct in review (core/services/review.ASKED_FIELDS, the
# VAT rate aside) and a learned template reads; the others come from the general reading.
LEARNED_FIELDS = (
    "supplier",
    "invoice_number",
    "issue_date",
    "due_date",
    "currency",
    "total_excl_tax",
    "total_tax",
    "total_incl_tax",
)


def _typed(name: str, raw: Any) -> object:
    if name in ("issue_date", "due_date"):
        return date.fromisoformat(str(raw))
    if name.startswith("total_"):
        return Decimal(str(raw))
    return str(raw)


def _learn_from(text: str, expected: dict[str, Any]) -> dict[str, Any]:
    """The simulated person's correction of every field, learned into a template; the
    date order kept is the one that finds more of the dates."""
    from core.extraction.learned import learn_template

    values = {FIELDS[n]: _typed(n, expected[n]) for n in LEARNED_FIELDS if n in expected}
    vat = str(expected.get("supplier_vat") or "")
    learned = [
        learn_template(
            text,
            values,
            name=str(expected.get("supplier", "")),
            identifiers=[vat] if vat else [],
            month_first=month_first,
        )
        for month_first in (False, True)
    ]
    return max(learned, key=lambda t: len(t["fields"]))


def _with_habits(data: InvoiceData, corrected: dict[str, Any]) -> InvoiceData:
    """The currency the person gave is the supplier's habit: it fills an unsure one, as
    core/services/reading.apply_habits does."""
    from core.extraction.fields import Field

    currency = corrected.get("currency")
    if currency is None or (data.currency and data.currency.confidence >= TRUSTED_CONFIDENCE):
        return data
    return dataclasses.replace(data, currency=Field(str(currency), "user", 1.0))


def _total(results: Results) -> Score:
    total = Score()
    for score in results.files.values():
        total.right += score.right
        total.total += score.total
    return total


def template_values_of(score: Score, expected: dict[str, Any], data: InvoiceData) -> None:
    """Count the values a learned template gave (stated on the page or not) that were right."""
    for name, attribute in FIELDS.items():
        found = get_field(data, attribute)
        if found is not None and found.source == "template":
            score.add(name in expected and same(name, expected[name], found.value))


async def learn_all(directory: Path) -> str:
    """Correct each supplier's first document, read its second with what was learned."""
    from core.extraction.merge import merge
    from core.extraction.sandbox import read_document_with_text
    from core.extraction.template import LEARNED_CONFIDENCE, apply_template, parse_template

    catalogue = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    files: dict[str, dict[str, Any]] = catalogue["files"]
    groups: dict[str, list[str]] = defaultdict(list)
    for path in sorted(files):
        entry = files[path]
        if kind_of(entry) != "einvoice" and "supplier" in entry["expected"]:
            groups[normalise_name(str(entry["expected"]["supplier"]))].append(path)
    without, learned = Results(), Results()
    later_without, later_learned = Results(), Results()
    template_values = Score()
    lines = []
    matched = 0
    try:
        for supplier, paths in sorted(groups.items()):
            if len(paths) < 2:
                continue
            texts: list[str] = []
            readings: list[InvoiceData] = []
            for path in paths:
                content = (directory / path).read_bytes()
                content_type = sniff_content_type(content, Path(path).name)
                try:
                    data, text = await read_document_with_text(
                        content, content_type, timeout=TIMEOUT_SECONDS, memory_mb=MEMORY_MB
                    )
                except ExtractionError:
                    data, text = InvoiceData(), ""
                readings.append(data)
                texts.append(text)
            first, second = paths[0], paths[1]
            table = _learn_from(texts[0], files[first]["expected"])
            template = parse_template(table, origin=f"learned from {first}")
            for number, path in enumerate(paths[1:], start=1):
                # The currency habit from the same correction, with or without learning.
                plain = _with_habits(readings[number], files[first]["expected"])
                reading = plain
                if template.matches(texts[number]):
                    matched += number == 1
                    reading = merge(apply_template(template, texts[number]), plain)
                    template_values_of(template_values, files[path]["expected"], reading)
                score_file(later_without, path, files[path], plain)
                score_file(later_learned, path, files[path], reading)
                if number == 1:
                    score_file(without, path, files[path], plain)
                    score_file(learned, path, files[path], reading)
            lines.append(
                f"  {supplier[:24]:<24} learned_from={first} read={second} "
                f"fields={len(table['fields'])} without={without.files[second].cell()} "
                f"with={learned.files[second].cell()}"
            )
    finally:
        shutdown_sandbox()
    before, after = _total(without), _total(learned)
    later_before, later_after = _total(later_without), _total(later_learned)
    accepted = Score()
    for index, lower in enumerate(BUCKETS):
        if lower >= TRUSTED_CONFIDENCE:
            accepted.right += learned.calibration[index].right
            accepted.total += learned.calibration[index].total
    return "\n".join(
        [
            "",
            f"learn: {len(lines)} suppliers with 2+ documents (e-invoices aside), "
            f"template matched the second document on {matched}",
            *lines,
            f"learn second_documents fields_right without={before.cell()} ({before.percent()}) "
            f"with_learned_template={after.cell()} ({after.percent()}) goal>=95% (same run)",
            f"learn all_later_documents ({len(later_without.files)}) fields_right "
            f"without={later_before.cell()} ({later_before.percent()}) "
            f"with_learned_template={later_after.cell()} ({later_after.percent()})",
            f"learn at or above the auto-accept threshold {TRUSTED_CONFIDENCE:g}: "
            f"{accepted.cell()} right ({accepted.percent()}; goal 97%); the learned "
            f"template's own values (confidence {LEARNED_CONFIDENCE:g} or cross-checked): "
            f"{template_values.cell()} right ({template_values.percent()})",
            *(["learn misses", *learned.misses] if learned.misses else []),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.read_corpus")
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--misses", action="store_true", help="list every wrong field")
    parser.add_argument(
        "--learn", action="store_true", help="also: one correction per supplier, then its next"
    )
    args = parser.parse_args(argv)
    results = asyncio.run(read_all(args.directory))
    print(report(results, args.directory, misses=args.misses))
    print(text_layer_ratio(args.directory, sorted(p for p in _PAGES if p.startswith("pdf/"))))
    scanned = sorted(p for p in _PAGES if p.startswith(("scan/", "photo/")))
    print(ocr_ratio(args.directory, scanned, max_pdf_pages=MAX_OCR_PAGES))
    if args.learn:
        print(asyncio.run(learn_all(args.directory)))


if __name__ == "__main__":
    main()
