"""Run the reading engine in a separate, memory-capped process, with a time limit.

Parsing a PDF or an XML sent by a stranger is the riskiest thing Courier does: a
decompression bomb can eat all memory, a malformed file can send pypdf into a very long
loop. Reads therefore happen in a child process whose address space is capped with
RLIMIT_AS, awaited with a timeout. A child that runs over its time is killed, a child that
dies is replaced, and either way the caller gets an `ExtractionError` for that one file
while the next file gets a fresh worker.

Workers are started with "spawn": forking a process that runs an event loop and database
threads copies their locks in whatever state they happen to be. A worker dies with the
process that started it, even one killed with SIGKILL (see `_die_with_parent`): an orphan
would hold its memory (hundreds of MB after a large read) until someone noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from core.extraction.einvoice import read_einvoice
from core.extraction.errors import ExtractionError, UnsafeXml
from core.extraction.fields import InvoiceData
from core.extraction.imaging import open_image
from core.extraction.ocr import ocr_image, read_image, read_ocr_pages
from core.extraction.pdf import ocr_text, read_pdf, read_pdf_with_text

Reader = Callable[[bytes], InvoiceData]
R = TypeVar("R")

PDF_TYPES = frozenset({"application/pdf"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/tiff", "image/gif", "image/webp", "image/bmp"}
)

# One worker: reads are CPU-bound and rare, and with one worker a timeout can only ever
# kill the read that ran over (see `_run_isolated`).
_MAX_WORKERS = 1
_MB = 1024 * 1024
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PARENT_CHECK_SECONDS = 0.5

_pool: ProcessPoolExecutor | None = None
_pool_memory_mb: int | None = None


@dataclass(frozen=True, slots=True)
class _Failure:
    """An engine error, carried back as plain data.

    ExtractionError's constructor takes (reason, detail) but pickles its message as its only
    argument, so sent across the process boundary as is it would come back with a garbled
    `reason`.
    """

    reason: str
    detail: str
    unsafe: bool


def reader_for(content_type: str) -> Reader:
    """Return the engine entry point for a (sniffed) content type, or raise unsupported_type."""
    base = content_type.split(";")[0].strip().lower()
    if base in PDF_TYPES:
        return read_pdf
    if base in XML_TYPES or base.endswith("+xml"):
        # Not pre-filtered with sniff.einvoice_syntax: that refuses a DOCTYPE by returning
        # None, and a hostile XML must surface as UnsafeXml, not as "unsupported".
        return read_einvoice
    if base in IMAGE_TYPES:
        return read_image
    raise ExtractionError("unsupported_type", base)


# The `timeout` parameters (ASYNC109) are deliberate: a caller's asyncio.timeout would
# only stop the waiting, while these also kill the worker that ran over.
async def read_document(
    content: bytes,
    content_type: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
    memory_mb: int = 512,
) -> InvoiceData:
    """Read `content` in the sandbox process.

    Raises ExtractionError: the engine's own reasons (unreadable_pdf, unsupported_xml...),
    UnsafeXml for hostile XML, "unsupported_type", "timeout", or "too_large" when the
    worker ran out of memory or died.
    """
    reader = reader_for(content_type)
    return await _run_isolated(reader, content, timeout=timeout, memory_mb=memory_mb)


async def read_document_with_text(
    content: bytes,
    content_type: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
    memory_mb: int = 512,
) -> tuple[InvoiceData, str]:
    """`read_document`, with the laid-out text the reading saw ("" for an XML): a
    supplier's learned template (core/extraction/learned.py) is learned and applied on it."""
    reader = reader_for(content_type)
    with_text: Callable[[bytes], tuple[InvoiceData, str]] = _xml_with_text
    if reader is read_pdf:
        with_text = read_pdf_with_text
    elif reader is read_image:
        with_text = _image_with_text
    return await _run_isolated(with_text, content, timeout=timeout, memory_mb=memory_mb)


def _image_with_text(content: bytes) -> tuple[InvoiceData, str]:
    pages = [ocr_image(open_image(content))]
    return read_ocr_pages(pages), ocr_text(pages)


def _xml_with_text(content: bytes) -> tuple[InvoiceData, str]:
    return read_einvoice(content), ""


async def _run_isolated(
    reader: Callable[[bytes], R],
    content: bytes,
    *,
    timeout: float,  # noqa: ASYNC109
    memory_mb: int,
) -> R:
    """Run `reader(content)` in the worker; `reader` must be a module-level (picklable) function.

    Separate from `read_document` so tests can hand in a reader that hangs or crashes.
    """
    pool = _get_pool(memory_mb)
    try:
        future = pool.submit(_call, reader, content)
    except BrokenProcessPool:
        # The worker died after the last read finished; start over once.
        _discard_pool()
        pool = _get_pool(memory_mb)
        future = pool.submit(_call, reader, content)
    try:
        outcome = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
    except TimeoutError as exc:
        # A running task cannot be cancelled, only its process killed.
        _discard_pool(pool)
        raise ExtractionError("timeout", f"no result within {timeout:g}s") from exc
    except BrokenProcessPool as exc:
        # The child died: most often killed for memory (the kernel's OOM killer, or a
        # C extension aborting on a failed allocation).
        _discard_pool(pool)
        raise ExtractionError("too_large", "the reader process died") from exc
    if isinstance(outcome, _Failure):
        error = UnsafeXml if outcome.unsafe else ExtractionError
        raise error(outcome.reason, outcome.detail)
    return outcome


def _get_pool(memory_mb: int) -> ProcessPoolExecutor:
    global _pool, _pool_memory_mb
    if _pool is not None and _pool_memory_mb != memory_mb:
        _discard_pool()
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=_MAX_WORKERS,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(memory_mb, os.getpid()),
        )
        _pool_memory_mb = memory_mb
    return _pool


def _discard_pool(pool: ProcessPoolExecutor | None = None) -> None:
    """Kill the workers of `pool` (default: the current one) and forget it if current."""
    global _pool, _pool_memory_mb
    target = pool if pool is not None else _pool
    if target is None:
        return
    # ProcessPoolExecutor (before 3.14's kill_workers) has no public way to stop a task
    # that is running; killing its process is the only way to reclaim the worker.
    for process in list(target._processes.values()):
        if process.is_alive():
            _kill_group(process.pid)
            process.kill()
    target.shutdown(wait=False, cancel_futures=True)
    if target is _pool:
        _pool = None
        _pool_memory_mb = None


def _kill_group(pid: int | None) -> None:
    """Kill the worker's process group: its tesseract child would outlive it otherwise."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:  # the worker leads its own group (see _start_worker)
            os.killpg(pid, signal.SIGKILL)


def shutdown_sandbox() -> None:
    """Stop the worker process; the next read starts a new one. For tests and shutdown."""
    global _pool, _pool_memory_mb
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool = None
    _pool_memory_mb = None


# --------------------------------------------------------------------------- in the child


def _start_worker(memory_mb: int, parent_pid: int) -> None:
    """Lead a process group of its own (so a kill reaches OCR children too), die with the
    parent, cap memory."""
    os.setpgid(0, 0)
    _die_with_parent(parent_pid)
    _limit_memory(memory_mb)


def _die_with_parent(parent_pid: int) -> None:
    """End the worker when `parent_pid` ends, however it ends.

    Two mechanisms, because neither is enough alone:

    - PR_SET_PDEATHSIG (Linux) has the kernel send SIGKILL the moment the parent goes. It
      needs nothing from the worker, so it works while a read holds the GIL in C code. But
      it fires on the exit of the parent *thread* that forked the worker, and
      ProcessPoolExecutor spawns from the thread that calls `submit`: the event loop's
      thread, which lives as long as the process reads. Should that thread end earlier, the
      worker dies with it and the next read's BrokenProcessPool starts a fresh one (see
      `_run_isolated`), which costs a start-up, not a read. It is not inherited by the OCR
      engine's process, which an orphaned pytesseract no longer times out, but which
      finishes its one page under the inherited memory cap.
    - A watcher thread that sees the worker re-parented (its parent pid changes) and kills
      the worker's whole process group, OCR child included: the only way on other
      systems, and the one that does not leave tesseract running when the worker notices
      first. It polls, so it may lag by `_PARENT_CHECK_SECONDS`.

    The parent may die before the prctl takes hold; the first check covers that window.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        # Failure (a seccomp filter, say) leaves the watcher, which is enough on its own.
        libc.prctl(
            ctypes.c_int(_PR_SET_PDEATHSIG),
            ctypes.c_ulong(signal.SIGKILL),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
    if os.getppid() != parent_pid:
        _end_group()
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True
    ).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_CHECK_SECONDS)
    _end_group()


def _end_group() -> None:
    """Kill the worker's process group: the worker itself and any OCR child it started."""
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _limit_memory(memory_mb: int) -> None:
    """Cap the worker's address space, soft and hard, so the read cannot raise it back.

    Inherited by the OCR engine's process, which gets the same cap of its own.
    """
    limit = memory_mb * _MB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _call(reader: Callable[[bytes], R], content: bytes) -> R | _Failure:
    try:
        return reader(content)
    except ExtractionError as exc:
        return _Failure(exc.reason, exc.detail, isinstance(exc, UnsafeXml))
    except MemoryError:
        # RLIMIT_AS usually shows up as MemoryError rather than a killed process.
        return _Failure("too_large", "memory limit reached", False)
    except Exception as exc:
        # An engine bug on one odd file must cost that file only, not the caller's batch;
        # the type and message travel back in `detail` for the log.
        return _Failure("reader_failed", f"{type(exc).__name__}: {exc}"[:500], False)
