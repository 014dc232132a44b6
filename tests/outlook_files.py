"""Outlook .msg files for the tests, written as [MS-CFB] and [MS-OXMSG] lay them out.

No permissively licensed .msg sample ships with the corpora or the packages here, and no
library at hand writes compound files, so this writes one: a version 3 compound file
(512-byte sectors) with the mini stream for streams under 4,096 bytes, as Outlook saves
them. Only the test side writes; Courier reads with olefile.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_SECTOR = 512
_MINI = 64
_CUTOFF = 4096
_FREE, _END, _FATSECT, _NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] = field(default_factory=list)
    sid: int = 0
    start: int = _END


def _flatten(root: _Entry) -> list[_Entry]:
    entries = [root]
    for entry in entries:
        entries.extend(entry.children)
    for sid, entry in enumerate(entries):
        entry.sid = sid
    return entries


def _chain(fat: list[int], first: int, count: int) -> None:
    for i in range(count):
        fat[first + i] = first + i + 1 if i < count - 1 else _END


def _direntry(entry: _Entry, right: int) -> bytes:
    name = entry.name.encode("utf-16-le") + b"\x00\x00"
    child = entry.children[0].sid if entry.children else _NONE
    size = len(entry.data)
    return (
        name.ljust(64, b"\x00")
        + struct.pack("<HBB3I", len(name), entry.kind, 1, _NONE, right, child)
        + bytes(16 + 4 + 16)
        + struct.pack("<III", entry.start if entry.kind != 1 else 0, size, 0)
    )


def compound_file(root: _Entry) -> bytes:
    entries = _flatten(root)
    small = [e for e in entries if e.kind == 2 and len(e.data) < _CUTOFF]
    large = [e for e in entries if e.kind == 2 and len(e.data) >= _CUTOFF]
    mini_stream = b""
    minifat: list[int] = []
    for entry in small:
        entry.start = len(mini_stream) // _MINI if entry.data else _END
        count = -(-len(entry.data) // _MINI)
        for i in range(count):
            minifat.append(entry.start + i + 1 if i < count - 1 else _END)
        mini_stream += entry.data.ljust(count * _MINI, b"\x00")
    root.data = mini_stream

    def sectors(size: int) -> int:
        return -(-size // _SECTOR)

    dir_count = sectors(len(entries) * 128)
    minifat_count = sectors(len(minifat) * 4)
    mini_count = sectors(len(mini_stream))
    large_counts = [sectors(len(e.data)) for e in large]
    body = dir_count + minifat_count + mini_count + sum(large_counts)
    fat_count = 1
    while fat_count * (_SECTOR // 4) < fat_count + body:
        fat_count += 1
    assert fat_count <= 109, "more FAT than the header's DIFAT holds"
    fat = [_FREE] * (fat_count * (_SECTOR // 4))
    for i in range(fat_count):
        fat[i] = _FATSECT
    at = fat_count
    dir_start = at
    _chain(fat, at, dir_count)
    at += dir_count
    minifat_start = at if minifat_count else _END
    _chain(fat, at, minifat_count)
    at += minifat_count
    root.start = at if mini_count else _END
    _chain(fat, at, mini_count)
    at += mini_count
    for entry, count in zip(large, large_counts, strict=True):
        entry.start = at
        _chain(fat, at, count)
        at += count

    directory = b""
    for entry in entries:
        siblings = next((p.children for p in entries if entry in p.children), [])
        position = siblings.index(entry) if entry in siblings else -1
        right = siblings[position + 1].sid if 0 <= position < len(siblings) - 1 else _NONE
        directory += _direntry(entry, right)
    difat = list(range(fat_count)) + [_FREE] * (109 - fat_count)
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack(
            "<9I", 0, fat_count, dir_start, 0, _CUTOFF, minifat_start, minifat_count, _END, 0
        )
        + struct.pack("<109I", *difat)
    )
    assert len(header) == _SECTOR

    def padded(data: bytes) -> bytes:
        return data.ljust(sectors(len(data)) * _SECTOR, b"\x00")

    return (
        header
        + struct.pack(f"<{len(fat)}I", *fat)
        + padded(directory.ljust(dir_count * _SECTOR, b"\x00"))
        + padded(struct.pack(f"<{len(minifat)}I", *minifat))
        + padded(mini_stream)
        + b"".join(padded(e.data) for e in large)
    )


def _properties() -> _Entry:
    # [MS-OXMSG] 2.4: a top-level message's property stream has a 32-byte header.
    return _Entry("__properties_version1.0", 2, bytes(32))


def _attachment(index: int, name: str, data: bytes, *, short: bool = False) -> _Entry:
    tag = "3704" if short else "3707"
    return _Entry(
        f"__attach_version1.0_#{index:08X}",
        1,
        children=[
            _Entry("__properties_version1.0", 2, bytes(8)),
            _Entry(f"__substg1.0_{tag}001F", 2, name.encode("utf-16-le")),
            _Entry("__substg1.0_37010102", 2, data),
        ],
    )


def outlook_message(
    files: list[tuple[str, bytes]],
    *,
    subject: str = "Facture",
    inner: tuple[str, bytes] | None = None,
) -> bytes:
    """A .msg whose attachments are `files`; with `inner`, it also carries an attached
    Outlook item (a mail saved into the mail) whose own attachment is that file."""
    children = [
        _properties(),
        _Entry("__substg1.0_0037001F", 2, subject.encode("utf-16-le")),
        _Entry("__nameid_version1.0", 1),
    ]
    children += [_attachment(i, name, data) for i, (name, data) in enumerate(files)]
    if inner is not None:
        embedded = _Entry(
            f"__attach_version1.0_#{len(files):08X}",
            1,
            children=[
                _Entry("__properties_version1.0", 2, bytes(8)),
                _Entry(
                    "__substg1.0_3701000D",
                    1,
                    children=[
                        # An embedded message's property stream has a 24-byte header.
                        _Entry("__properties_version1.0", 2, bytes(24)),
                        _attachment(0, *inner),
                    ],
                ),
            ],
        )
        children.append(embedded)
    return compound_file(_Entry("Root Entry", 5, children=children))
