"""Prepare a scan or a phone photo for OCR: open it safely, straighten it, threshold it.

A crooked receipt photo is the normal case, and Tesseract reads a page tilted by more than
a degree or two, or lit unevenly, far worse than a straight black-on-white one. So:

1. open with Pillow under a pixel cap (a 1 KB PNG can claim 100,000 x 100,000 pixels),
   honour the EXIF orientation a phone writes instead of rotating the pixels;
2. scale small images up towards ~300 dpi;
3. binarise against the local paper brightness (a heavily blurred copy), so a shadow
   across the page is not read as ink;
4. find the skew with a projection-profile search: rotated by the right angle, the rows of
   ink and the gaps between text lines are sharpest, so the row sums vary most.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter, ImageOps

from core.extraction.errors import ExtractionError

#: More pixels than an A4 page at 600 dpi (35 Mpx) plus margin; beyond, a bomb or a poster.
MAX_PIXELS = 60_000_000
MAX_SKEW_DEGREES = 12.0
# The angle search runs on a copy this wide: plenty for the row profile, and fast.
_SEARCH_WIDTH = 600
# Tesseract reads best with capital letters 20-30 px high: scale narrow images up.
_TARGET_WIDTH = 2000
_MIN_WIDTH = 1500
# The lighting is estimated on a copy this many times smaller: it varies slowly.
_BACKGROUND_SHRINK = 8
# Percent of the local paper brightness below which a pixel is ink.
_INK_RATIO = 70
_MAX_UPSCALE = 3.0


@dataclass(frozen=True, slots=True)
class PreparedImage:
    image: Image.Image
    skew_degrees: float


def open_image(content: bytes) -> Image.Image:
    """Open `content` as an image, refusing decompression bombs before decoding pixels."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (and errors at twice its own cap); our cap is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            if image.width * image.height > MAX_PIXELS:
                raise ExtractionError("too_large", f"{image.width}x{image.height} pixels")
            image.load()
    except ExtractionError:
        raise
    except Image.DecompressionBombError as exc:
        raise ExtractionError("too_large", str(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise ExtractionError("unreadable_image", f"{type(exc).__name__}: {exc}") from exc
    return image


def prepare(image: Image.Image) -> PreparedImage:
    """Straighten and binarise `image` for OCR."""
    image = ImageOps.exif_transpose(image) or image
    gray = image.convert("L")
    if gray.width < _MIN_WIDTH:
        factor = min(_MAX_UPSCALE, _TARGET_WIDTH / gray.width)
        gray = gray.resize(
            (round(gray.width * factor), round(gray.height * factor)), Image.Resampling.LANCZOS
        )
    binary = binarise(gray)
    angle = find_skew(binary)
    if abs(angle) >= 0.1:
        # Rotated smooth, then thresholded again: cheaper than rotating the grey page, and
        # sharper than rotating the black-and-white one pixel for pixel.
        turned = binary.rotate(
            angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255
        )
        binary = turned.point(lambda level: 255 if level > 127 else 0)
    return PreparedImage(binary, angle)


def binarise(gray: Image.Image) -> Image.Image:
    """Black ink on white: darker than `_INK_RATIO` of the local paper's brightness.

    The paper's brightness is estimated on a small blurred copy, so a shadow across a
    photo or a yellowed scan keeps its text and loses its background.
    """
    small = gray.reduce(_BACKGROUND_SHRINK)
    radius = max(2, small.width // 40)
    background = small.filter(ImageFilter.BoxBlur(radius)).resize(
        gray.size, Image.Resampling.BILINEAR
    )
    pixels = np.asarray(gray, dtype=np.uint16)
    paper = np.asarray(background, dtype=np.uint16)
    ink = pixels * 100 < paper * _INK_RATIO
    return Image.fromarray(np.where(ink, 0, 255).astype(np.uint8), mode="L")


def find_skew(gray: Image.Image) -> float:
    """The rotation (degrees, counter-clockwise) that makes the text lines horizontal."""
    small = gray
    if gray.width > _SEARCH_WIDTH:
        ratio = _SEARCH_WIDTH / gray.width
        small = gray.resize((_SEARCH_WIDTH, max(1, round(gray.height * ratio))))
    pixels = np.asarray(small, dtype=np.uint8)
    ink = Image.fromarray(np.where(pixels < otsu_threshold(pixels), 255, 0).astype(np.uint8))
    if not np.asarray(ink).any():
        return 0.0

    def score(angle: float) -> float:
        rotated = np.asarray(ink.rotate(angle, resample=Image.Resampling.NEAREST, expand=True))
        rows = rotated.sum(axis=1, dtype=np.float64)
        return float(np.sum(np.diff(rows) ** 2))

    coarse = np.arange(-MAX_SKEW_DEGREES, MAX_SKEW_DEGREES + 0.01, 1.5)
    best = max(coarse, key=score)
    fine = np.arange(best - 0.8, best + 0.81, 0.2)
    return round(float(max(fine, key=score)), 2)


def otsu_threshold(pixels: NDArray[np.uint8]) -> int:
    """Otsu's method: the grey level that best separates ink from paper."""
    histogram = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    if total == 0:
        return 127
    levels = np.arange(256, dtype=np.float64)
    weight_dark = np.cumsum(histogram)
    weight_light = total - weight_dark
    sum_dark = np.cumsum(histogram * levels)
    mean_dark = np.divide(sum_dark, weight_dark, out=np.zeros(256), where=weight_dark > 0)
    mean_light = np.divide(
        sum_dark[-1] - sum_dark, weight_light, out=np.zeros(256), where=weight_light > 0
    )
    between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.argmax(between))
