"""Making files durable: a rename or a new file survives a crash once its folder has been
fsynced, not before; a file's bytes once the file, or its whole filesystem, has been."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2), Linux only; None where the C library has none (macOS, musl
    builds without it)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int]
    call.restype = ctypes.c_int
    return call


def has_syncfs() -> bool:
    return _syncfs() is not None


def syncfs(folder: Path) -> bool:
    """syncfs(2) the filesystem holding `folder`: every file's bytes and every name on it
    durable, for one journal commit and one cache flush. False where there is no syncfs."""
    call = _syncfs()
    if call is None:
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        # syncfs reports the filesystem's write-back errors (Linux 5.8+): a failed write
        # of any file there fails the batch, which is then fetched and written again.
        if call(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(folder))
    finally:
        os.close(fd)
    return True
