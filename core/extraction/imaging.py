"""Prepare a scan or a phone photo for OCR: open it safely, straighten it, threshold it.

A crooked receipt photo is the normal case, and Tesseract reads a page tilted by more than
a degree or two, or lit unevenly, far worse than a straight black-on-white one. So:

1. open with Pillow, refusing a decompression bomb from its header alone (a 1 KB PNG can
   claim 100,000 x 100,000 pixels), and decode to grey at about 300 dpi: a JPEG is
   decoded already shrunk (libjpeg scales by 1/2, 1/4 or 1/8 as it decodes), anything
   else is shrunk right after decoding, so a 600-dpi colour scan costs its decoded size
   once and then a quarter of it in grey;
2. honour the EXIF orientation a phone writes instead of rotating the pixels;
3. scale small images up towards ~300 dpi;
4. binarise against the local paper brightness (a heavily blurred copy), so a shadow
   across the page is not read as ink;
5. find the skew with a projection-profile search: rotated by the right angle, the rows of
   ink and the gaps between text lines are sharpest, so the row sums vary most.

Everything after step 1 works on a page of about 9 Mpx (A4 at 300 dpi), whatever came
in: that keeps a read within the sandbox worker's memory limit (512 MB of address space).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from core.extraction.errors import ExtractionError

#: An A3 page at 600 dpi is 70 Mpx (A4: 35 Mpx); beyond this, a decompression bomb.
MAX_PIXELS = 100_000_000
#: What decoding may allocate before the page is shrunk. Pillow keeps a colour pixel in 4
#: bytes: an A4 colour scan at 600 dpi takes 139 MB. Beyond, a bomb in colour or 16 bits.
MAX_DECODED_BYTES = 160 * 1024 * 1024
#: The heavy work runs at about 300 dpi: an A4 page's long side at 300 dpi.
WORKING_LONG_SIDE = 3508
# Shrink only what is clearly above the working size: a 12 Mpx phone photo (4032 px) stays.
_SHRINK_ABOVE = 1.15
# A declared resolution below this is a default (72, 96), not a scanner's.
_MIN_TRUSTED_DPI = 150
_WORKING_DPI = 300
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
    """Open `content` as a grey page at about 300 dpi, upright as its EXIF says.

    Raises ExtractionError "decompression_bomb" when the header claims more pixels than
    any page has, or more than decoding may allocate; "unreadable_image" for bytes that
    are no image.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns (and errors at twice its own cap); our cap is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ExtractionError("decompression_bomb", f"{width}x{height} pixels")
            scale = working_scale(image)
            if scale < 1.0 and image.format == "JPEG":
                image.draft("L", (math.ceil(width * scale), math.ceil(height * scale)))
            decoded = image.width * image.height * _bytes_per_pixel(image.mode)
            if decoded > MAX_DECODED_BYTES:
                raise ExtractionError("decompression_bomb", f"{width}x{height} {image.mode} pixels")
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            image.load()
            page = _shrink(image.convert("L"), (round(width * scale), round(height * scale)))
    except ExtractionError:
        raise
    except Image.DecompressionBombError as exc:
        raise ExtractionError("decompression_bomb", str(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise ExtractionError("unreadable_image", f"{type(exc).__name__}: {exc}") from exc
    turn = _EXIF_TURNS.get(orientation)
    return page if turn is None else page.transpose(turn)


def working_scale(image: Image.Image) -> float:
    """The factor (at most 1) that brings `image` to about 300 dpi.

    A scanner's declared resolution is trusted; without one, a page much longer than A4
    at 300 dpi is taken for a finer scan. Never narrower than what OCR needs.
    """
    width, height = image.size
    dpi = _declared_dpi(image)
    if dpi is not None:
        scale = _WORKING_DPI / dpi
    elif max(width, height) > WORKING_LONG_SIDE * _SHRINK_ABOVE:
        scale = WORKING_LONG_SIDE / max(width, height)
    else:
        scale = 1.0
    return min(1.0, max(scale, _MIN_WIDTH / width))


def _declared_dpi(image: Image.Image) -> float | None:
    raw = image.info.get("dpi")
    try:
        dpi = float(raw[0]) if isinstance(raw, tuple) else None
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if dpi is not None and dpi >= _MIN_TRUSTED_DPI else None


def _shrink(gray: Image.Image, size: tuple[int, int]) -> Image.Image:
    if gray.width <= size[0]:
        return gray
    # reduce() first: a box filter by a whole factor, fast and light on a large page.
    factor = gray.width // size[0]
    if factor >= 2:
        gray = gray.reduce(factor)
    if gray.width <= size[0]:
        return gray
    return gray.resize(size, Image.Resampling.LANCZOS)


def _bytes_per_pixel(mode: str) -> int:
    """How Pillow stores a pixel: one byte for 1/L/P, two for 16-bit, four otherwise."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


_EXIF_ORIENTATION = 0x0112
_EXIF_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def prepare(image: Image.Image) -> PreparedImage:
    """Straighten and binarise `image` (a page from `open_image`, or a rendered one)."""
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
    # Built in place as bytes: np.where would make an int64 page first, 8 bytes a pixel.
    out = np.full(ink.shape, 255, dtype=np.uint8)
    out[ink] = 0
    return Image.fromarray(out, mode="L")


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
