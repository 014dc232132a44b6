"""Reading speed and worker memory: ``python -m bench.extract_pages``.

- Text PDFs: the engine's `read_pdf` (text layer, rules, Factur-X probe, templates) on the
  generated corpus, one core, against pypdf's bare text extraction of the same files
  measured in the same run.
- OCR: the engine's `read_image` (straighten, threshold, Tesseract fra+eng, rules) on
  crooked, blurred, noisy phone photos of the same invoices, against bare Tesseract
  (`image_to_string`, eng, no preparation) on the same photos.
- The accuracy of each on the whole set (the test suite reads only a small OCR sample).
- The sandbox worker's peak RSS, and a 5,000-page PDF read under the 512 MB limit.

Lines to read: ``extract_pages_per_s ...`` (goals: 20 text pages/s, 1 OCR page/s),
``worker_peak_rss_mb=...`` and ``long_pdf_5000_pages ...``.
"""

from __future__ import annotations

import asyncio
import io
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence

import pytesseract
from PIL import Image
from pypdf import PdfReader

from core.extraction.ocr import read_image
from core.extraction.pdf import read_pdf
from core.extraction.sandbox import read_document, shutdown_sandbox
from tests.unit.extraction.accuracy import einvoice_cases, ocr_cases, score, text_cases
from tests.unit.extraction.bad_inputs import long_pdf
from tests.unit.extraction.corpus import SAMPLES, visible_lines
from tests.unit.extraction.image_builders import photograph
from tests.unit.extraction.pdf_builders import build_pdf

TEXT_GOAL = 20.0
OCR_GOAL = 1.0
ROUNDS = 3
MEMORY_MB = 512
OCR_ANGLES = (-5.0, -2.0, 3.0, 6.0)


def _pages_per_second(read: Callable[[bytes], object], files: Sequence[bytes]) -> float:
    """Median over rounds of files read per second (each file is one page)."""
    rates = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for content in files:
            read(content)
        rates.append(len(files) / (time.perf_counter() - started))
    return statistics.median(rates)


def _bare_pypdf(content: bytes) -> object:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def _bare_tesseract(content: bytes) -> object:
    return pytesseract.image_to_string(Image.open(io.BytesIO(content)), lang="eng")


def _children_peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KB; RUSAGE_CHILDREN covers reaped workers and their
    # own reaped children (Tesseract).
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


async def _in_worker(files: Sequence[tuple[bytes, str]]) -> float:
    started = time.perf_counter()
    for content, content_type in files:
        await read_document(content, content_type, memory_mb=MEMORY_MB, timeout=120)
    elapsed = time.perf_counter() - started
    shutdown_sandbox()  # reaps the worker, so its peak RSS is counted
    return elapsed


def main() -> None:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    _long_pdf()
    text_files = [build_pdf(visible_lines(s)) for s in SAMPLES.values()] * 10
    text_files += [build_pdf(line.splitlines()) for line in _latin1_texts()]
    photos = [
        photograph(s, angle=angle, seed=i)
        for s in SAMPLES.values()
        for i, angle in enumerate(OCR_ANGLES)
    ]

    text_rate = _pages_per_second(read_pdf, text_files)
    text_base = _pages_per_second(_bare_pypdf, text_files)
    print(
        f"extract_pages_per_s text={text_rate:.1f} goal>={TEXT_GOAL:g} "
        f"baseline_pypdf_text={text_base:.1f} ratio={text_rate / text_base:.2f} "
        f"(median of {ROUNDS} rounds, {len(text_files)} one-page PDFs, one core)"
    )
    ocr_rate = _pages_per_second(read_image, photos[:8])
    ocr_base = _pages_per_second(_bare_tesseract, photos[:8])
    print(
        f"extract_pages_per_s ocr={ocr_rate:.2f} goal>={OCR_GOAL:g} "
        f"baseline_bare_tesseract={ocr_base:.2f} ratio={ocr_rate / ocr_base:.2f} "
        f"(median of {ROUNDS} rounds, 8 photos, OMP_THREAD_LIMIT=1)"
    )

    result = score([*einvoice_cases(), *text_cases(), *ocr_cases(angles=OCR_ANGLES)])
    print(result.table())
    print(
        f"accuracy einvoice={result.rate('einvoice'):.1%} text={result.rate('text'):.1%} "
        f"ocr={result.rate('ocr'):.1%} (goals 100%, 95%, 85%; {len(photos)} photos)"
    )

    elapsed = asyncio.run(
        _in_worker(
            [(f, "application/pdf") for f in text_files[:8]]
            + [(p, "image/jpeg") for p in photos[:4]]
        )
    )
    print(
        f"worker_peak_rss_mb={_children_peak_rss_mb():.0f} limit_mb={MEMORY_MB} "
        f"(8 text PDFs and 4 photos in the sandbox in {elapsed:.1f}s, worker start included)"
    )


def _long_pdf() -> None:
    """First, while no other worker has run: RUSAGE_CHILDREN keeps the maximum so far."""
    long = long_pdf(5000)
    try:
        elapsed = asyncio.run(_in_worker([(long, "application/pdf")]))
        outcome = f"read in {elapsed:.2f}s"
    except Exception as exc:  # reported, not raised: the line says what happened
        outcome = f"failed: {exc}"
    peak = _children_peak_rss_mb()
    within = "yes" if peak < MEMORY_MB and outcome.startswith("read") else "NO"
    print(
        f"long_pdf_5000_pages {outcome}, {len(long) / 1e6:.1f} MB file, "
        f"worker_peak_rss_mb={peak:.0f} within limit_mb={MEMORY_MB}: {within}"
    )


def _latin1_texts() -> list[str]:
    from tests.unit.extraction.text_samples_en import ENGLISH
    from tests.unit.extraction.text_samples_fr import FRENCH

    texts = []
    for sample in (*FRENCH, *ENGLISH):
        try:
            sample.text.encode("latin-1")
        except UnicodeEncodeError:
            continue
        texts.append(sample.text)
    return texts


if __name__ == "__main__":
    main()
