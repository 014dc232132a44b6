"""The gateway's DATA reader gives back exactly what the client sent, however it arrives."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from mail.smtp.data import read_data


def stuffed(lines: list[bytes]) -> bytes:
    """What an SMTP client puts on the wire for these lines (RFC 5321 4.5.2)."""
    return (
        b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
        + b".\r\n"
    )


async def _read(
    wire: bytes,
    *,
    pieces: int = 1,
    limit: int | None = None,
    stream_limit: int = 2**16,
    after: bytes = b"",
) -> tuple[bytes | None, bytes]:
    reader = asyncio.StreamReader(limit=stream_limit)
    step = max(1, len(wire) // pieces)

    async def _feed() -> None:
        for start in range(0, len(wire), step):
            reader.feed_data(wire[start : start + step])
            await asyncio.sleep(0)
        reader.feed_data(after)
        reader.feed_eof()

    feeding = asyncio.create_task(_feed())
    data = await read_data(reader, limit=limit)
    await feeding
    return data.content, await reader.read()


async def test_an_empty_message() -> None:
    assert await _read(b".\r\n") == (b"", b"")


async def test_a_first_line_that_is_a_stuffed_dot_and_lines_ending_with_dots() -> None:
    lines = [b".", b"Total due.", b"..two dots", b"end."]
    content, _ = await _read(stuffed(lines))
    assert content == b"\r\n".join(lines) + b"\r\n"


async def test_the_next_pipelined_command_stays_in_the_stream() -> None:
    content, rest = await _read(stuffed([b"hello"]), after=b"QUIT\r\n")
    assert (content, rest) == (b"hello\r\n", b"QUIT\r\n")


async def test_a_terminator_split_across_reads_and_a_body_past_the_stream_limit() -> None:
    lines = [b"A" * 70 for _ in range(3000)] + [b"."]
    content, _ = await _read(stuffed(lines), pieces=997, stream_limit=1024)
    assert content == b"\r\n".join(lines) + b"\r\n"


async def test_too_much_data_is_read_to_the_end_and_dropped() -> None:
    wire = stuffed([b"x" * 100] * 100)
    content, rest = await _read(wire, limit=1000, after=b"RSET\r\n")
    assert content is None
    assert rest == b"RSET\r\n"  # the stream is left at the next command


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=30
    ),
    pieces=st.integers(min_value=1, max_value=50),
)
async def test_any_message_comes_back_byte_for_byte(lines: list[bytes], pieces: int) -> None:
    content, rest = await _read(stuffed(lines), pieces=pieces, stream_limit=64, after=b"NOOP\r\n")
    assert content == b"".join(line + b"\r\n" for line in lines)
    assert rest == b"NOOP\r\n"
