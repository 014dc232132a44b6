"""Reading an SMTP DATA section in large reads rather than line by line.

aiosmtpd reads DATA one line at a time: a 100 KB attachment is 1,800 awaits and most of
the gateway's time. Here the reader waits for ".\r\n" and checks that the dot starts a
line; base64 bodies never contain it, so most messages arrive in a few reads. Everything
after the terminator stays in the stream, so a pipelining client's next command is safe.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

_DOT_LINE = b".\r\n"
_END = b"\r\n.\r\n"


@dataclass(frozen=True, slots=True)
class Data:
    """The message as the client meant it (dots unstuffed), or None if it was too large."""

    content: bytes | None
    size: int


async def read_data(reader: asyncio.StreamReader, *, limit: int | None) -> Data:
    # The CRLF that ended the DATA command starts the first line: an empty message, or a
    # first line that is a lone dot, then matches the same terminator as any other.
    buffer = bytearray(b"\r\n")
    size = 0
    too_large = False
    while True:
        try:
            chunk = await reader.readuntil(_DOT_LINE)
        except asyncio.LimitOverrunError as overrun:
            # No ".\r\n" yet within the stream's limit: take what cannot hold its start.
            chunk = await reader.read(overrun.consumed)
        size += len(chunk)
        buffer += chunk
        if limit is not None and size > limit + len(_DOT_LINE):
            too_large = True
            del buffer[: -len(_END)]  # keep only what the terminator test needs
        if buffer.endswith(_END):
            break
    if too_large:
        return Data(content=None, size=size)
    # RFC 5321 4.5.2: drop the terminator, and the extra dot of every line starting with one.
    body = bytes(buffer[: -len(_DOT_LINE)]).replace(b"\r\n.", b"\r\n")
    return Data(content=body[2:], size=size)
