"""Scans and phone photos are straightened, thresholded and read by Tesseract."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from core.extraction import ocr
from core.extraction.errors import ExtractionError
from core.extraction.imaging import MAX_PIXELS, open_image, prepare
from core.extraction.ocr import OcrLine, OcrPage, read_image, read_ocr_pages
from core.extraction.pdf import read_pdf
from tests.unit.extraction.corpus import ACME_UK, BAKERY, visible_lines
from tests.unit.extraction.expectations import expected_fields, values_of
from tests.unit.extraction.image_builders import photograph, scanned_pdf


@pytest.fixture
def no_tesseract(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    ocr.ocr_available.cache_clear()
    monkeypatch.setattr("core.extraction.ocr.shutil.which", lambda name: None)
    yield
    ocr.ocr_available.cache_clear()


@pytest.mark.parametrize("angle", [-4.0, 2.5])
def test_a_crooked_photo_is_straightened_before_reading(angle: float) -> None:
    prepared = prepare(open_image(photograph(BAKERY, angle=angle)))
    assert prepared.skew_degrees == pytest.approx(-angle, abs=0.4)


def test_a_crooked_blurred_receipt_photo_is_read_field_by_field() -> None:
    data = read_image(photograph(ACME_UK, angle=-3.5, blur=1.2))
    assert values_of(data) == expected_fields(ACME_UK)
    assert {f.source for f in (data.total_incl_tax, data.invoice_number) if f} == {"ocr"}


def test_a_scanned_pdf_without_text_is_read_by_ocr() -> None:
    data = read_pdf(scanned_pdf(BAKERY))
    assert values_of(data) == expected_fields(BAKERY)
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.source == "ocr"


def test_ocr_confidence_follows_tesseracts_word_confidence() -> None:
    text = visible_lines(BAKERY)
    sure = read_ocr_pages([OcrPage(tuple(OcrLine(line, 0.96) for line in text))])
    unsure = read_ocr_pages([OcrPage(tuple(OcrLine(line, 0.55) for line in text))])
    assert sure.total_incl_tax is not None
    assert unsure.total_incl_tax is not None
    assert sure.total_incl_tax.value == unsure.total_incl_tax.value == BAKERY.total_incl
    assert sure.total_incl_tax.confidence >= 0.9
    # Shaky words make the same reading untrusted (below reading.TRUSTED_CONFIDENCE).
    assert unsure.total_incl_tax.confidence < 0.5


def test_one_shaky_line_lowers_only_what_was_read_from_it() -> None:
    lines = [
        OcrLine(line, 0.3 if line.startswith("Facture") else 0.95) for line in visible_lines(BAKERY)
    ]
    data = read_ocr_pages([OcrPage(tuple(lines))])
    assert data.invoice_number is not None
    assert data.total_incl_tax is not None
    assert data.invoice_number.confidence == 0.0
    assert data.total_incl_tax.confidence >= 0.9


def test_without_tesseract_a_photo_gets_a_reason_not_a_crash(no_tesseract: None) -> None:
    with pytest.raises(ExtractionError) as caught:
        read_image(photograph(BAKERY))
    assert caught.value.reason == "ocr_unavailable"


def test_without_tesseract_text_pdfs_are_still_read(no_tesseract: None) -> None:
    from tests.unit.extraction.pdf_builders import build_pdf

    data = read_pdf(build_pdf(visible_lines(BAKERY)))
    assert data.total_incl_tax is not None


def test_a_decompression_bomb_image_is_refused_before_decoding() -> None:
    bomb = Image.new("1", (12_000, 12_000), 1)  # 144 Mpx, a few KB as PNG
    buffer = io.BytesIO()
    bomb.save(buffer, "PNG")
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(ExtractionError) as caught:
        open_image(buffer.getvalue())
    assert caught.value.reason == "decompression_bomb"
    assert MAX_PIXELS < 12_000 * 12_000


def test_bytes_that_are_no_image_are_unreadable() -> None:
    with pytest.raises(ExtractionError) as caught:
        open_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert caught.value.reason == "unreadable_image"


def test_a_photo_taken_sideways_is_turned_upright() -> None:
    sideways = open_image(photograph(BAKERY, angle=2.0)).rotate(90, expand=True)
    buffer = io.BytesIO()
    sideways.save(buffer, "JPEG")
    data = read_image(buffer.getvalue())
    assert values_of(data) == expected_fields(BAKERY)


def test_an_upright_page_is_read_by_one_tesseract_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The costly part of OCR is Tesseract itself: an upright page that reads well is read
    once, words and boxes together, with no orientation check, and handed over black and
    white and uncompressed (PBM, not PNG) with no inverted second try per line."""
    import pytesseract

    reads: list[tuple[Image.Image, str]] = []
    osd_checks: list[Image.Image] = []
    image_to_data, image_to_osd = pytesseract.image_to_data, pytesseract.image_to_osd

    def spy_data(image: Image.Image, *args: Any, **kwargs: Any) -> Any:
        reads.append((image, str(kwargs.get("config", ""))))
        return image_to_data(image, *args, **kwargs)

    def spy_osd(image: Image.Image, *args: Any, **kwargs: Any) -> Any:
        osd_checks.append(image)
        return image_to_osd(image, *args, **kwargs)

    monkeypatch.setattr(pytesseract, "image_to_data", spy_data)
    monkeypatch.setattr(pytesseract, "image_to_osd", spy_osd)
    monkeypatch.setattr(pytesseract, "image_to_string", None)  # text is built from the words

    data = read_image(photograph(BAKERY, angle=-2.0))

    assert values_of(data) == expected_fields(BAKERY)
    assert len(reads) == 1
    assert osd_checks == []
    image, config = reads[0]
    assert (image.mode, image.format) == ("1", "PPM")
    assert "tessedit_do_invert=0" in config
