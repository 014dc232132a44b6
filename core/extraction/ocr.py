"""Read scans and photos: Tesseract (French and English) through pytesseract.

pytesseract rather than OCRmyPDF: Courier needs the words and their confidences to weigh
each field, not a searchable PDF, and OCRmyPDF would add Ghostscript, unpaper and a PDF
rewrite per page to get there. pytesseract runs the `tesseract` binary from Debian's
packages; that child inherits the sandbox worker's memory limit and process group, so the
sandbox's limits cover it too.

When the engine is not installed (`make run` on a laptop without it), a scan gets the
reason `ocr_unavailable` instead of a crash, and everything else is read as usual.

Fields read by OCR get source "ocr". Their confidence is the text rules' own (labelled,
cross-checked...) scaled by Tesseract's word confidences on the line the value was read
from, or on the page when that line cannot be found.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from PIL import Image

from core.extraction.errors import ExtractionError
from core.extraction.fields import FIELD_NAMES, Field, InvoiceData, get_field
from core.extraction.imaging import open_image, prepare
from core.extraction.layout import Word, row_text
from core.extraction.merge import merge
from core.extraction.template import read_with_template
from core.extraction.text_rules import read_text

LANGUAGES = ("fra", "eng")
#: A page's own budget; the sandbox's limit for the whole file still applies.
PAGE_TIMEOUT_SECONDS = 25
# Tesseract's "single uniform block" mode keeps a label and its amount on one line, which
# the automatic layout mode often splits into two columns. The LSTM engine only (the
# installed models have no other). No inverted retry: by default Tesseract reads again,
# turned white on black, every line it read with little confidence, which costs a tenth
# of a page's time and gains nothing on a page `prepare` already made black on white.
_CONFIG = "--psm 6 --oem 1 -c tessedit_do_invert=0"
# Below these, a page may be on its side: its orientation is checked (see ocr_image).
_RETRY_BELOW = 0.6
_MIN_WORDS = 8
_OSD_MIN_CONFIDENCE = 1.0
_COLUMN_SHARE = 0.8


# Tesseract's usual confusions in the labels the text rules look for (l/i/1/I, O/0),
# put right before the rules run: "Totai HT" is "Total HT" to any reader.
_LABEL_FIXES = (
    (re.compile(r"\b([Tt])[o0]t[a@][il1I|]\b"), r"\1otal"),
    (re.compile(r"\bT[VY]A\b"), "TVA"),
    (re.compile(r"\bIBAN\s*[:;]"), "IBAN :"),
)


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    confidence: float  # mean word confidence, 0..1


@dataclass(frozen=True, slots=True)
class OcrPage:
    lines: tuple[OcrLine, ...]

    @property
    def words(self) -> int:
        return sum(len(line.text.split()) for line in self.lines)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float:
        words = [line.confidence for line in self.lines if line.text.strip()]
        return sum(words) / len(words) if words else 0.0


@functools.cache
def ocr_available() -> bool:
    """True when the tesseract binary and both languages' data are installed."""
    if shutil.which("tesseract") is None:
        return False
    import pytesseract

    try:
        installed = set(pytesseract.get_languages(config=""))
    except Exception:
        return False
    return all(language in installed for language in LANGUAGES)


def ocr_image(image: Image.Image) -> OcrPage:
    """Straighten, threshold and OCR one page image.

    A page that reads badly may be on its side or upside down (a phone held sideways,
    a sheet scanned the wrong way round, with no EXIF to say so): Tesseract's orientation
    detection is asked then, and the page read again turned upright if that reads better.
    """
    if not ocr_available():
        raise ExtractionError("ocr_unavailable", "tesseract with fra+eng is not installed")
    prepared = prepare(image)
    page = _recognise(prepared.image)
    if page.confidence >= _RETRY_BELOW and page.words >= _MIN_WORDS:
        return page
    turn = _orientation(prepared.image)
    if turn == 0:
        return page
    # Tesseract gives the clockwise turn that makes the page upright; PIL turns anticlockwise.
    retry = _recognise(prepare(image.rotate(-turn, expand=True, fillcolor="white")).image)
    return retry if retry.confidence > page.confidence else page


def _recognise(image: Image.Image) -> OcrPage:
    import pytesseract

    # One thread: the sandbox is one worker per core, and OpenMP threads only fight it.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        data = pytesseract.image_to_data(
            _handed_over(image),
            lang="+".join(LANGUAGES),
            config=_CONFIG,
            output_type=pytesseract.Output.DICT,
            timeout=PAGE_TIMEOUT_SECONDS,
        )
    except RuntimeError as exc:  # pytesseract's way of saying "timed out"
        raise ExtractionError("timeout", "OCR of one page ran over its time") from exc
    except pytesseract.TesseractError as exc:
        raise ExtractionError("ocr_failed", str(exc)[:300]) from exc
    return _lines(data)


def _handed_over(image: Image.Image) -> Image.Image:
    """The page as pytesseract should write it for the tesseract binary: one bit a pixel,
    uncompressed (PBM). pytesseract writes PNG unless told otherwise: compressing an A4
    page at 300 dpi takes about a sixth of a second, only for tesseract to decompress it
    again. The page is black and white already (`prepare`), so nothing is lost.
    """
    bilevel = image.convert("1", dither=Image.Dither.NONE)  # a copy: `format` is set below
    bilevel.format = "PPM"  # what pytesseract saves as; Pillow writes mode "1" as PBM
    return bilevel


def _orientation(image: Image.Image) -> int:
    """0, 90, 180 or 270: Tesseract's clockwise turn to make the page upright (0 if unsure)."""
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(
            _handed_over(image),
            config="--psm 0",
            output_type=pytesseract.Output.DICT,
            timeout=PAGE_TIMEOUT_SECONDS,
        )
    except (RuntimeError, pytesseract.TesseractError):
        return 0  # too little text to tell, or no OSD data: keep the first reading
    turn = int(osd.get("rotate", 0))
    sure = float(osd.get("orientation_conf", 0)) >= _OSD_MIN_CONFIDENCE
    return turn if sure and turn in (90, 180, 270) else 0


def _lines(data: dict[str, list[object]]) -> OcrPage:
    """Tesseract's lines, each laid out with its words at their columns on the page, so a
    value printed under its label stands in the label's column (core/extraction/layout)."""
    grouped: dict[tuple[int, int, int], list[Word]] = {}
    for index, word in enumerate(data["text"]):
        text = str(word).strip()
        conf = float(str(data["conf"][index]))
        if not text or conf < 0:
            continue
        key = (
            int(str(data["block_num"][index])),
            int(str(data["par_num"][index])),
            int(str(data["line_num"][index])),
        )
        left, top = int(str(data["left"][index])), int(str(data["top"][index]))
        width, height = int(str(data["width"][index])), int(str(data["height"][index]))
        grouped.setdefault(key, []).append(
            Word(text, left, top, left + width, top + height, conf / 100.0)
        )
    widths = sorted((w.x1 - w.x0) / len(w.text) for words in grouped.values() for w in words)
    # One column per character of the page's usual width, a little narrower so that a
    # wide word does not push its neighbours out of their columns.
    unit = max(1.0, widths[len(widths) // 2] * _COLUMN_SHARE) if widths else 1.0
    lines = tuple(
        OcrLine(
            row_text(sorted(words, key=lambda w: w.x0), unit, separate=True),
            sum(w.confidence for w in words) / len(words),
        )
        for _, words in sorted(grouped.items())
    )
    return OcrPage(lines)


def read_image(content: bytes) -> InvoiceData:
    """Read a photo or a scanned image (PNG, JPEG, TIFF, GIF...) of an invoice."""
    image = open_image(content)
    return read_ocr_pages([ocr_image(image)])


def read_ocr_pages(pages: list[OcrPage]) -> InvoiceData:
    """Apply the text rules to OCR output; fields become source "ocr", weighed by the words."""
    lines = [line for page in pages for line in page.lines]
    text = fix_labels("\n\n".join(page.text for page in pages))
    data = read_text(text)
    page_confidence = sum(line.confidence for line in lines) / len(lines) if lines else 0.0
    changes: dict[str, Field[object]] = {}
    for name in FIELD_NAMES:
        field = get_field(data, name)
        if field is None:
            continue
        seen = _line_confidence(field.value, lines)
        word_confidence = page_confidence if seen is None else seen
        changes[name] = Field(
            field.value, "ocr", round(min(1.0, field.confidence * _weight(word_confidence)), 3)
        )
    read = dataclasses.replace(data, **changes)  # type: ignore[arg-type]
    templated = read_with_template(text)
    return read if templated is None else merge(templated, read)


def fix_labels(text: str) -> str:
    for pattern, replacement in _LABEL_FIXES:
        text = pattern.sub(replacement, text)
    return text


def _weight(word_confidence: float) -> float:
    """Tesseract's 90+ means "sure"; below that the field's confidence falls off quickly."""
    return min(1.0, max(0.0, (word_confidence - 0.3) / 0.6))


def _line_confidence(value: object, lines: list[OcrLine]) -> float | None:
    """The word confidence of the first line that shows `value`, if one can be told."""
    needle = _digits_or_letters(value)
    if not needle:
        return None
    for line in lines:
        if needle in _digits_or_letters(line.text):
            return line.confidence
    return None


def _digits_or_letters(value: object) -> str:
    if isinstance(value, Decimal):
        return re.sub(r"\D", "", f"{value:.2f}")
    if isinstance(value, str):
        return re.sub(r"[\W_]+", "", value.casefold())
    if isinstance(value, date):
        return ""
    return ""
