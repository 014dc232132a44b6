"""The sandbox reads in a child process, and a hostile file costs only its own read."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from core.extraction import InvoiceData
from core.extraction.errors import ExtractionError, UnsafeXml
from core.extraction.sandbox import _run_isolated, read_document, shutdown_sandbox
from tests.unit.extraction.corpus import BAKERY, visible_lines
from tests.unit.extraction.image_builders import photograph
from tests.unit.extraction.pdf_builders import build_pdf
from tests.unit.extraction.test_xml_safety import XXE
from tests.unit.extraction.xml_builders import build_ubl


@pytest.fixture(autouse=True)
def _fresh_sandbox() -> Iterator[None]:
    yield
    shutdown_sandbox()


# Readers for the child: module-level, so they pickle by name.


def _sleep_forever(content: bytes) -> InvoiceData:
    time.sleep(3600)
    raise AssertionError("unreachable")


def _eat_memory(content: bytes) -> InvoiceData:
    hog = bytearray(1024 * 1024 * 1024)  # 1 GiB, over the 256 MiB limit of the test
    raise AssertionError(f"allocated {len(hog)} bytes")


def _die(content: bytes) -> InvoiceData:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def _crash(content: bytes) -> InvoiceData:
    raise KeyError("engine bug")


async def test_a_text_pdf_is_read_in_the_child() -> None:
    data = await read_document(build_pdf(visible_lines(BAKERY)), "application/pdf")
    assert data.total_incl_tax is not None
    assert data.total_incl_tax.value == BAKERY.total_incl
    assert data.total_incl_tax.source == "text"
    assert data.invoice_number is not None
    assert data.invoice_number.value == BAKERY.number


async def test_a_ubl_invoice_is_read_exactly() -> None:
    data = await read_document(build_ubl(BAKERY), "application/xml")
    assert data.total_incl_tax is not None
    assert (data.total_incl_tax.value, data.total_incl_tax.source) == (BAKERY.total_incl, "ubl")


async def test_hostile_xml_comes_back_as_unsafe_xml() -> None:
    with pytest.raises(UnsafeXml):
        await read_document(XXE, "text/xml")


async def test_engine_reasons_survive_the_process_boundary() -> None:
    with pytest.raises(ExtractionError) as caught:
        await read_document(b"%PDF-1.7\n1 0 obj", "application/pdf")
    assert caught.value.reason == "unreadable_pdf"
    assert not isinstance(caught.value, UnsafeXml)


async def test_other_types_are_unsupported_without_starting_a_worker() -> None:
    with pytest.raises(ExtractionError) as caught:
        await read_document(b"\xd0\xcf\x11\xe0", "application/msword")
    assert caught.value.reason == "unsupported_type"


async def test_an_engine_bug_costs_only_that_file() -> None:
    with pytest.raises(ExtractionError) as caught:
        await _run_isolated(_crash, b"", timeout=30, memory_mb=512)
    assert caught.value.reason == "reader_failed"
    assert "KeyError" in caught.value.detail


async def test_a_read_that_hangs_times_out_and_the_next_read_works() -> None:
    started = time.monotonic()
    # The budget covers starting the worker too, hence a few seconds rather than one.
    with pytest.raises(ExtractionError) as caught:
        await _run_isolated(_sleep_forever, b"", timeout=3, memory_mb=512)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 10
    data = await read_document(build_ubl(BAKERY), "application/xml")
    assert data.total_incl_tax is not None


async def test_memory_over_the_limit_is_too_large_and_the_next_read_works() -> None:
    with pytest.raises(ExtractionError) as caught:
        await _run_isolated(_eat_memory, b"", timeout=30, memory_mb=256)
    assert caught.value.reason == "too_large"
    data = await read_document(build_ubl(BAKERY), "application/xml")
    assert data.total_incl_tax is not None


async def test_a_killed_worker_is_too_large_and_is_replaced() -> None:
    with pytest.raises(ExtractionError) as caught:
        await _run_isolated(_die, b"", timeout=30, memory_mb=512)
    assert caught.value.reason == "too_large"
    data = await read_document(build_ubl(BAKERY), "application/xml")
    assert data.total_incl_tax is not None


async def test_a_photo_is_read_by_ocr_in_the_child_within_its_memory_limit() -> None:
    data = await read_document(photograph(BAKERY, angle=4.0), "image/jpeg", memory_mb=512)
    assert data.total_incl_tax is not None
    assert (data.total_incl_tax.value, data.total_incl_tax.source) == (BAKERY.total_incl, "ocr")
