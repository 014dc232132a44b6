"""Reading a mail's headers and parameters without ever raising, whatever the sender wrote.

The stdlib's modern policy parses a header when it is first read, and some malformed
values make it raise (a Message-ID of "<[[[>" raises IndexError on Python 3.11). Each
reader here falls back to the header's raw text, decoded the compat32 way: RFC 2047
words by hand, and stray 8-bit bytes as UTF-8 or else Windows-1252, which is what old
French mailers send.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime
from email import policy
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser

_REPLACEMENT = "\ufffd"
_HEADER_END = re.compile(rb"\r?\n\r?\n")
#: Read at most this much when a message has no blank line to end its headers.
_HEADERS_AT_MOST = 65536


def header_bytes(raw: bytes) -> bytes | None:
    """The raw header section through its blank line, or None when no blank line ends
    it within the first 64 KB (then nobody can say where the headers stop)."""
    end = _HEADER_END.search(raw, 0, _HEADERS_AT_MOST)
    return raw[: end.end()] if end else None


def header_section(raw: bytes) -> Message:
    """The headers alone, parsed the compat32 way; may raise on a broken one.

    Cut at the blank line first: the header parser would otherwise read the whole body
    line by line, a 100 KB attachment's 1,800 lines, only to skip it.
    """
    head = header_bytes(raw)
    return BytesHeaderParser(policy=policy.compat32).parsebytes(
        raw[:_HEADERS_AT_MOST] if head is None else head
    )


def header_text(msg: Message, name: str) -> str:
    """Return header `name` decoded to text, or "" when it is missing or unreadable."""
    try:
        value: object = msg.get(name)
        text = "" if value is None else str(value)
    except Exception:
        return _raw_header_text(msg, name)
    if value is None:
        return ""
    if isinstance(value, Header) or _REPLACEMENT in text or "=?" in text:
        # compat32 hands back Header objects and undecoded words; the modern policy
        # turns 8-bit bytes into U+FFFD, which the raw text can still recover.
        return _raw_header_text(msg, name) or decode_words(text)
    return _unfold(text)


def header_addresses(msg: Message, name: str) -> tuple[str, ...]:
    """Return the addresses in header `name`, lower-cased, without duplicates."""
    found: list[str] = []
    try:
        value = msg.get(name)
        groups = getattr(value, "addresses", None)
        if groups is not None:
            found = [address.addr_spec for address in groups]
    except Exception:
        found = []
    if not found:
        # compat32, or a header the modern parser gave up on: parse the raw text instead.
        raw = _raw_header_text(msg, name, decode=False)
        found = [address for _, address in email.utils.getaddresses([raw])]
    addresses = (address.strip().strip("<>").lower() for address in found)
    return tuple(dict.fromkeys(address for address in addresses if "@" in address))


def header_date(msg: Message) -> datetime | None:
    """Return the Date header as an aware datetime, or None when missing or nonsense."""
    text = header_text(msg, "date")
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except Exception:
        return None
    # "-0000" means "zone unknown"; UTC is the least wrong reading.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def part_filename(part: Message) -> str | None:
    """Return the file name a MIME part declares, decoded (RFC 2231 and RFC 2047), or None."""
    try:
        name: object = part.get_filename() or part.get_param("name")
    except Exception:
        name = None
    if isinstance(name, tuple):
        name = email.utils.collapse_rfc2231_value(name)
    if not isinstance(name, str) or not name.strip():
        return None
    if _REPLACEMENT in name:
        name = _recover_filename(part) or name
    return decode_words(name).strip() or None


def decode_words(value: str | Header) -> str:
    """Decode RFC 2047 words, which mailers also (wrongly) put in file name parameters."""
    try:
        chunks = decode_header(value)
    except Exception:
        return _unfold(str(value))
    pieces: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            pieces.append(unsurrogate(chunk))
        else:
            pieces.append(decode_bytes(chunk, charset))
    return _unfold("".join(pieces))


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text in its declared charset, else UTF-8, else Windows-1252; never raise."""
    for candidate in (charset, "utf-8"):
        if not candidate or candidate == "unknown-8bit":
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError, TypeError):
            continue
    return data.decode("cp1252", errors="replace")


def unsurrogate(text: str) -> str:
    """Turn bytes the email package smuggled in as surrogates back into characters."""
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    return decode_bytes(text.encode("utf-8", errors="surrogateescape"), None)


def _raw_header_text(msg: Message, name: str, *, decode: bool = True) -> str:
    try:
        raw = next((value for key, value in msg.raw_items() if key.lower() == name.lower()), "")
    except Exception:
        return ""
    if not decode:
        return _unfold(unsurrogate(raw))
    try:
        value = policy.compat32.header_fetch_parse(name, raw)
    except Exception:
        value = raw
    return decode_words(value)


def _recover_filename(part: Message) -> str | None:
    """Re-read a file name whose 8-bit bytes the modern parser replaced with U+FFFD."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        raw = _raw_header_text(part, header, decode=False)
        if not raw:
            continue
        scratch = Message()
        scratch[header] = raw
        try:
            value = scratch.get_param(param, header=header)
        except Exception:
            continue
        if isinstance(value, tuple):
            value = email.utils.collapse_rfc2231_value(value)
        if isinstance(value, str) and value:
            return value
    return None


def _unfold(text: str) -> str:
    return " ".join(text.split())
