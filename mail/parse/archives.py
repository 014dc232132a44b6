"""Unpack zip attachments within fixed limits, so that a zip bomb costs nothing.

Accountants and suppliers zip a month of invoices together; attackers zip a terabyte of
zeros into 40 KB. Members are read in chunks and counted as they come, never trusting
the sizes the archive declares: past 100:1 or past the mail's byte budget the whole
archive is dropped, with a defect, before much memory has been spent.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from core.sniff import zip_entry_count

_CHUNK = 64 * 1024
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How much one mail may unpack from its archives, all of them together."""

    max_files: int = 50
    max_total_bytes: int = 50 * 1024 * 1024
    max_ratio: int = 100
    # Small members of repetitive XML compress well past 100:1 and are harmless.
    ratio_floor_bytes: int = 1024 * 1024
    max_depth: int = 2
    # A directory this long is an attack; reading it would already cost memory.
    max_entries: int = 1000


@dataclass(frozen=True, slots=True)
class Member:
    """A file found in an archive: its path inside the archive and its bytes."""

    path: str
    data: bytes


class Budget:
    """What is left to unpack in one mail, shared by all its archives so nesting can't
    multiply the limits."""

    __slots__ = ("bytes_left", "files_left", "limits")

    def __init__(self, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits()
        self.files_left = self.limits.max_files
        self.bytes_left = self.limits.max_total_bytes


class _Bomb(Exception):
    """The archive expands beyond the limits; nothing of it is kept."""


def unpack_zip(data: bytes, *, name: str, budget: Budget) -> tuple[list[Member], list[str]]:
    """Return the files of the zip `data` and the defects met; never raises.

    A bomb yields no files at all. Too many files yields the first ones, with a defect.
    """
    defects: list[str] = []
    entries = zip_entry_count(data)
    if entries is None:
        return [], [f"{name}: not a readable zip"]
    if entries > budget.limits.max_entries:
        return [], [f"{name}: zip bomb suspected ({entries} entries), not unpacked"]
    members: list[Member] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                path = info.filename.replace("\\", "/")
                if info.is_dir() or _is_junk(path):
                    continue
                if _climbs_out(path):
                    defects.append(f"{name}: skipped unsafe path {path!r}")
                    continue
                if budget.files_left <= 0:
                    defects.append(
                        f"{name}: more than {budget.limits.max_files} files, rest skipped"
                    )
                    break
                if info.flag_bits & 0x1:
                    defects.append(f"{name}: skipped encrypted {path!r}")
                    continue
                try:
                    content = _read_member(archive, info, budget)
                except _Bomb:
                    raise
                except Exception as error:
                    defects.append(f"{name}: unreadable {path!r} ({type(error).__name__})")
                    continue
                budget.files_left -= 1
                members.append(Member(path=path, data=content))
    except _Bomb as bomb:
        return [], [*defects, f"{name}: zip bomb suspected ({bomb}), not unpacked"]
    except Exception as error:
        return [], [*defects, f"{name}: not a readable zip ({type(error).__name__})"]
    return members, defects


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> bytes:
    limits = budget.limits
    ratio_cap = max(limits.ratio_floor_bytes, limits.max_ratio * max(info.compress_size, 1))
    # Declared sizes can lie low but never make a member bigger; refuse obvious ones early.
    if info.file_size > budget.bytes_left:
        raise _Bomb(f"{info.file_size} bytes declared")
    if info.file_size > ratio_cap:
        raise _Bomb(f"declared ratio over {limits.max_ratio}:1")
    buffer = io.BytesIO()
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            buffer.write(chunk)
            size = buffer.tell()
            if size > budget.bytes_left:
                raise _Bomb(f"over {limits.max_total_bytes} bytes unpacked")
            if size > ratio_cap:
                raise _Bomb(f"ratio over {limits.max_ratio}:1")
    budget.bytes_left -= buffer.tell()
    return buffer.getvalue()


def _climbs_out(path: str) -> bool:
    return (
        path.startswith("/") or re.match(r"^[A-Za-z]:", path) is not None or ".." in path.split("/")
    )


def _is_junk(path: str) -> bool:
    # macOS Finder's resource forks and Windows Explorer's thumbnails ride along in zips.
    base = path.rsplit("/", 1)[-1]
    return path.startswith("__MACOSX/") or base.startswith("._") or base.lower() in _JUNK_NAMES
