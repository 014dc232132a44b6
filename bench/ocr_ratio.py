"""OCR pages per second against a baseline run side by side: ``bench.read_corpus`` prints it.

Courier's OCR of a page (straightened, binarised, read once by Tesseract for its words
and their boxes) is timed in this process against the plainest use of the same engine on
the same page image at the same resolution: ``pytesseract.image_to_string`` with the same
languages and Tesseract's defaults. The two are interleaved page by page, so that both see
the same load on a busy machine and their ratio means something where the absolute
figure does not. Tesseract runs on one thread (OMP_THREAD_LIMIT=1), as in the sandbox.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image


def page_images(directory: Path, paths: Sequence[str], max_pdf_pages: int) -> list[Image.Image]:
    """Each OCR file's pages as the reader gets them: a PDF's rendered, an image opened."""
    from core.extraction.imaging import open_image
    from core.extraction.pdf import rasterise

    images: list[Image.Image] = []
    for path in paths:
        content = (directory / path).read_bytes()
        if path.endswith(".pdf"):
            images.extend(rasterise(content, pages=max_pdf_pages))
        else:
            images.append(open_image(content))
    return images


def ocr_ratio(directory: Path, paths: Sequence[str], *, max_pdf_pages: int) -> str:
    import pytesseract

    from core.extraction.ocr import LANGUAGES, ocr_image

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    images = page_images(directory, paths, max_pdf_pages)
    seconds = {"courier": 0.0, "baseline": 0.0}
    for image in images:
        started = time.perf_counter()
        ocr_image(image)
        seconds["courier"] += time.perf_counter() - started
        started = time.perf_counter()
        pytesseract.image_to_string(image, lang="+".join(LANGUAGES))
        seconds["baseline"] += time.perf_counter() - started
    pages = len(images)
    courier, baseline = (pages / seconds[n] if seconds[n] else 0.0 for n in seconds)
    ratio = courier / baseline if baseline else 0.0
    return (
        f"ocr pages_per_s courier={courier:.2f} baseline_image_to_string={baseline:.2f} "
        f"ratio={ratio:.2f} ({pages} pages each, in-process, same run, interleaved, one thread)"
    )
