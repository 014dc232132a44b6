"""Scans and phone photos of the generated invoices, for the OCR tests and the benchmark.

Each is the text PDF rendered to pixels, then damaged the way a phone or a scanner does:
turned a few degrees, blurred, with sensor noise and uneven light, saved as a JPEG.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pypdfium2
from fpdf import FPDF
from PIL import Image, ImageFilter

from tests.unit.extraction.corpus import Sample, visible_lines
from tests.unit.extraction.pdf_builders import build_pdf


def render_page(pdf: bytes, *, dpi: int = 200) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image: Image.Image = document[0].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        document.close()
    return image.convert("L")


def photograph(
    sample: Sample,
    *,
    angle: float = 3.0,
    blur: float = 1.0,
    noise: float = 12.0,
    shade: bool = True,
    seed: int = 8,
) -> bytes:
    """A crooked, blurred, noisy, unevenly lit JPEG of `sample`'s page."""
    page = render_page(build_pdf(visible_lines(sample)))
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(blur))
    pixels = np.asarray(page, dtype=np.float32)
    if shade:
        # Light from one side: the far edge of the page is a third darker.
        pixels = pixels * np.linspace(1.0, 0.68, pixels.shape[1], dtype=np.float32)[None, :]
    rng = np.random.default_rng(seed)
    pixels = pixels + rng.normal(0.0, noise, pixels.shape).astype(np.float32)
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def scanned_pdf(sample: Sample, *, angle: float = -1.5) -> bytes:
    """A PDF with no text layer: one page holding a slightly crooked scan of `sample`."""
    page = render_page(build_pdf(visible_lines(sample)), dpi=150)
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    buffer = io.BytesIO()
    page.save(buffer, "PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(buffer.getvalue()), x=0, y=0, w=210)
    return bytes(pdf.output())


def random_angle(rng: random.Random) -> float:
    """A few degrees either way, never straight."""
    return rng.choice((-1, 1)) * rng.uniform(1.0, 6.0)
