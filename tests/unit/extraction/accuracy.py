"""Field accuracy of the engine on the generated corpus, per field and per source.

Shared by the accuracy test (a small OCR sample, to stay fast) and bench.extract_pages
(the whole set). A field counts as right when its value is exactly the one written,
including "absent" where nothing was written: an invented value is as wrong as a miss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.extraction.einvoice import read_einvoice, read_facturx
from core.extraction.fields import FIELD_NAMES, InvoiceData
from core.extraction.ocr import read_image
from core.extraction.pdf import read_pdf
from tests.unit.extraction.corpus import SAMPLES, Sample, visible_lines
from tests.unit.extraction.expectations import expected_fields, values_of
from tests.unit.extraction.image_builders import photograph
from tests.unit.extraction.pdf_builders import build_facturx, build_pdf
from tests.unit.extraction.text_samples_en import ENGLISH
from tests.unit.extraction.text_samples_fr import FRENCH
from tests.unit.extraction.xml_builders import GUIDELINES, build_cii, build_ubl

FACTURX_PROFILES = ("minimum", "basic", "en16931")


@dataclass(frozen=True, slots=True)
class Case:
    """One document of the corpus: its kind ("einvoice", "text", "ocr"), how to read it."""

    kind: str
    name: str
    read: Callable[[], InvoiceData]
    expected: dict[str, object]


@dataclass
class Score:
    right: Counter[tuple[str, str]] = field(default_factory=Counter)
    total: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def add(self, case: Case, data: InvoiceData) -> None:
        got = values_of(data)
        for name in FIELD_NAMES:
            key = (case.kind, name)
            self.total[key] += 1
            if got[name] == case.expected[name]:
                self.right[key] += 1
            else:
                self.misses.append(
                    f"{case.kind}/{case.name}/{name}: {got[name]!r} != {case.expected[name]!r}"
                )

    def rate(self, kind: str, name: str | None = None) -> float:
        keys = [k for k in self.total if k[0] == kind and (name is None or k[1] == name)]
        total = sum(self.total[k] for k in keys)
        return sum(self.right[k] for k in keys) / total if total else 1.0

    def table(self) -> str:
        kinds = sorted({kind for kind, _ in self.total})
        lines = [f"{'field':<16}" + "".join(f"{kind:>10}" for kind in kinds)]
        for name in FIELD_NAMES:
            lines.append(
                f"{name:<16}" + "".join(f"{self.rate(kind, name):>10.0%}" for kind in kinds)
            )
        lines.append(f"{'all':<16}" + "".join(f"{self.rate(kind):>10.0%}" for kind in kinds))
        return "\n".join(lines)


def einvoice_cases(samples: dict[str, Sample] = SAMPLES) -> list[Case]:
    cases = []
    for name, s in samples.items():
        cases.append(
            Case("einvoice", f"{name}.ubl", _bind(read_einvoice, build_ubl(s)), expected_fields(s))
        )
        for profile in sorted(GUIDELINES):
            minimum = profile == "minimum"
            cases.append(
                Case(
                    "einvoice",
                    f"{name}.cii-{profile}",
                    _bind(read_einvoice, build_cii(s, profile)),
                    expected_fields(s, minimum=minimum),
                )
            )
        for profile in FACTURX_PROFILES:
            pdf = build_facturx(build_cii(s, profile), visible_lines(s))
            cases.append(
                Case(
                    "einvoice",
                    f"{name}.facturx-{profile}",
                    _bind(_xml_of, pdf),
                    expected_fields(s, minimum=profile == "minimum"),
                )
            )
    return cases


def text_cases(samples: dict[str, Sample] = SAMPLES) -> list[Case]:
    """The generated invoices as text PDFs, and the hand-written layouts that fit a core font."""
    cases = [
        Case(
            "text", f"{name}.pdf", _bind(read_pdf, build_pdf(visible_lines(s))), expected_fields(s)
        )
        for name, s in samples.items()
    ]
    for sample in (*FRENCH, *ENGLISH):
        try:
            sample.text.encode("latin-1")
        except UnicodeEncodeError:
            continue  # beyond fpdf2's core font (Latin-1 here); test_text_rules reads it as text
        expected = {name: sample.expected.get(name) for name in FIELD_NAMES}
        pdf = build_pdf(sample.text.splitlines())
        cases.append(Case("text", f"{sample.name}.pdf", _bind(read_pdf, pdf), expected))
    return cases


def ocr_cases(samples: dict[str, Sample] = SAMPLES, angles: Iterable[float] = (3.0,)) -> list[Case]:
    return [
        Case(
            "ocr",
            f"{name}.photo{angle:+g}",
            _bind(read_image, photograph(s, angle=angle, blur=1.0, seed=index)),
            expected_fields(s),
        )
        for name, s in samples.items()
        for index, angle in enumerate(angles)
    ]


def score(cases: Iterable[Case]) -> Score:
    result = Score()
    for case in cases:
        result.add(case, case.read())
    return result


def _xml_of(pdf: bytes) -> InvoiceData:
    data = read_facturx(pdf)
    assert data is not None, "no Factur-X XML in the PDF"
    return data


def _bind(reader: Callable[[bytes], InvoiceData], content: bytes) -> Callable[[], InvoiceData]:
    return lambda: reader(content)
