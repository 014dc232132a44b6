"""A page scanned at 600 dpi is read within the reader's memory limit; a bomb is refused.

Both go through the sandbox worker at the production limit (512 MB of address space), the
way a scan sent by mail or added with `courier inbox add` is read.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from collections.abc import Iterator

import pytest
from PIL import Image

from core.extraction.errors import ExtractionError
from core.extraction.imaging import open_image
from core.extraction.sandbox import read_document, shutdown_sandbox
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.image_builders import render_page
from tests.unit.extraction.pdf_builders import build_pdf

PRODUCTION_MEMORY_MB = 512
A4_600_DPI = (4961, 7016)


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


@pytest.fixture(scope="module")
def colour_scan_600_dpi() -> bytes:
    """A4 at 600 dpi in RGB, as a flatbed scanner saves it: 35 Mpx, 139 MB once decoded."""
    page = render_page(build_pdf(visible_lines(BAKERY)), dpi=600)
    assert page.size == A4_600_DPI
    buffer = io.BytesIO()
    page.convert("RGB").save(buffer, "PNG", compress_level=1, dpi=(600, 600))
    return buffer.getvalue()


def _png_bomb(width: int, height: int, *, colour_type: int, bit_depth: int) -> bytes:
    """A valid PNG of `width` x `height` blank pixels, compressed to a few hundred KB."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)
    packer = zlib.compressobj(1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


async def test_an_a4_colour_scan_at_600_dpi_is_read_within_the_memory_limit(
    colour_scan_600_dpi: bytes,
) -> None:
    scan = colour_scan_600_dpi
    started = time.monotonic()
    data = await read_document(scan, "image/png", memory_mb=PRODUCTION_MEMORY_MB, timeout=60)
    assert data.total_incl_tax is not None
    assert (data.total_incl_tax.value, data.total_incl_tax.source) == (BAKERY.total_incl, "ocr")
    assert data.invoice_number is not None
    assert data.invoice_number.value == BAKERY.number
    # Shrunk to 300 dpi before the heavy work: about as fast as a 300-dpi page.
    assert time.monotonic() - started < 30


def test_a_600_dpi_page_is_worked_on_at_300_dpi(colour_scan_600_dpi: bytes) -> None:
    page = open_image(colour_scan_600_dpi)
    assert page.mode == "L"
    assert page.size == pytest.approx((A4_600_DPI[0] / 2, A4_600_DPI[1] / 2), abs=2)


@pytest.mark.parametrize(
    ("width", "height", "colour_type", "bit_depth"),
    [
        pytest.param(12_000, 12_000, 0, 1, id="144-megapixel-bilevel"),
        # Under the pixel cap, but Pillow keeps grey-and-alpha in 4 bytes: 169 MB decoded.
        pytest.param(6_500, 6_500, 4, 8, id="42-megapixel-grey-alpha-169-mb-decoded"),
    ],
)
async def test_a_decompression_bomb_is_refused_with_its_reason(
    width: int, height: int, colour_type: int, bit_depth: int
) -> None:
    bomb = _png_bomb(width, height, colour_type=colour_type, bit_depth=bit_depth)
    assert len(bomb) < 1_000_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(bomb)) as claimed:
            assert claimed.size == (width, height)  # a real PNG, not a broken one
    with pytest.raises(ExtractionError) as caught:
        await read_document(bomb, "image/png", memory_mb=PRODUCTION_MEMORY_MB)
    assert caught.value.reason == "decompression_bomb"
    assert f"{width}x{height}" in caught.value.detail
