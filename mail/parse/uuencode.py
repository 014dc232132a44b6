"""Find uuencoded files inside a text body ("begin 644 name" ... "end").

Old mailers and some gateways still paste files into the text this way; a careful reader
finds them as attachments. Each line is decoded on its own and a bad line is cut to what
its length byte promises, as tolerant decoders do.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

_BEGIN = re.compile(r"^begin [0-7]{3,4} ([^\r\n]+?)[ \t]*$", re.MULTILINE)
_END = re.compile(r"^end[ \t]*$", re.MULTILINE)
#: At most this many blocks are read from one body.
MAX_BLOCKS = 50


@dataclass(frozen=True, slots=True)
class UuFile:
    filename: str
    data: bytes


def uuencoded_files(text: str) -> tuple[UuFile, ...]:
    """Return the uuencoded files in a text body, in order; never raises."""
    found: list[UuFile] = []
    position = 0
    while len(found) < MAX_BLOCKS:
        begin = _BEGIN.search(text, position)
        if begin is None:
            break
        end = _END.search(text, begin.end())
        if end is None:
            break
        data = _decode(text[begin.end() : end.start()])
        if data:
            found.append(UuFile(begin.group(1), data))
        position = end.end()
    return tuple(found)


def _decode(block: str) -> bytes:
    chunks: list[bytes] = []
    for line in block.splitlines():
        if not line or line in ("`", " "):
            continue
        raw = line.encode("latin-1", errors="replace")
        try:
            chunks.append(binascii.a2b_uu(raw))
        except binascii.Error:
            # Junk after the data: keep the bytes the length character announces.
            length = (raw[0] - 32) & 0x3F
            try:
                chunks.append(binascii.a2b_uu(raw[: 1 + (length + 2) // 3 * 4]))
            except binascii.Error:
                continue
    return b"".join(chunks)
