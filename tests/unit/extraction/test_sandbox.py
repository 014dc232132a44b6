"""The sandbox reads in a child process, and a hostile file costs only its own read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
    assert time.monotonic() - started < 30  # against forever; the margin is for a busy machine
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


# A long-running process that reads, as `courier run` does: the worker stays for the next file.
READING_PROCESS = """
import asyncio
from core.extraction.sandbox import read_document
from tests.unit.extraction.corpus import BAKERY
from tests.unit.extraction.xml_builders import build_ubl

async def main() -> None:
    await read_document(build_ubl(BAKERY), "application/xml")
    print("read", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _process_stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name in (...) may hold spaces
    return fields[0], int(fields[1]), fields[19]


def _children_of(parent: int) -> dict[int, str]:
    """The parent's child processes, each with its start time (a pid may be reused)."""
    found = {}
    for entry in Path("/proc").iterdir():
        stat = _process_stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat[1] == parent:
            found[int(entry.name)] = stat[2]
    return found


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_reader_worker_dies_with_a_killed_parent() -> None:
    """`kill -9` of the process that reads leaves no worker holding memory behind."""
    root = Path(__file__).resolve().parents[3]
    parent = subprocess.Popen(
        [sys.executable, "-c", READING_PROCESS],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    try:
        assert parent.stdout.readline() == "read\n"
        children = _children_of(parent.pid)
        assert any("spawn_main" in _cmdline(pid) for pid in children), children
        parent.kill()
        parent.wait(timeout=20)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=20)
        parent.stdout.close()

    def alive() -> list[int]:
        # A zombie is dead; whether a container's init reaps it is not ours to test.
        return [
            pid
            for pid, started in children.items()
            if (stat := _process_stat(pid)) is not None and stat[2] == started and stat[0] != "Z"
        ]

    deadline = time.monotonic() + 10
    try:
        while alive() and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the process table, not guessing how long death takes
        assert not alive(), [_cmdline(pid) for pid in alive()]
    finally:
        for pid, started in children.items():  # a failing run must not leak them either
            if (stat := _process_stat(pid)) is not None and stat[2] == started:
                os.kill(pid, signal.SIGKILL)
