"""Open an opaque S/MIME blob (application/pkcs7-mime) far enough to find what it carries.

Opaque signed-data holds the signed MIME entity itself, so its attachments are only found
once it is unwrapped; enveloped (encrypted) data cannot be read without the recipient's
key and is reported as such. The signature is not checked here: sender authentication
is DKIM's job, and an unverifiable signature must not lose an invoice. A small BER reader
of our own (definite and indefinite lengths, constructed OCTET STRINGs) walks the CMS
structure; it is bounded by the blob's size and a nesting limit, so hostile bytes cost
little.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SIGNED_DATA = "1.2.840.113549.1.7.2"
ENVELOPED_DATA = "1.2.840.113549.1.7.3"
AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
PKCS7_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})

_MAX_DEPTH = 32
_SEQUENCE = 0x30
_OID = 0x06
_OCTET_STRING = 0x04
_CONTEXT_0 = 0xA0


class BerError(ValueError):
    """The bytes are not the CMS structure they claim to be."""


@dataclass(frozen=True, slots=True)
class Pkcs7Content:
    """What an S/MIME blob is: signed (with the MIME entity it carries), encrypted, or other."""

    kind: Literal["signed", "encrypted", "other"]
    content: bytes = b""


@dataclass(frozen=True, slots=True)
class _Node:
    tag: int
    start: int  # of the contents
    end: int  # just past the contents (before an end-of-contents marker)
    next: int  # where the next sibling starts


def read_pkcs7(data: bytes) -> Pkcs7Content:
    """Unwrap a CMS ContentInfo; raises BerError when the bytes are not one."""
    info = _node(data, 0, len(data))
    _expect(info, _SEQUENCE)
    children = _children(data, info)
    if len(children) < 2 or children[0].tag != _OID:
        raise BerError("ContentInfo without a content type")
    content_type = _oid(data[children[0].start : children[0].end])
    if content_type in (ENVELOPED_DATA, AUTH_ENVELOPED_DATA):
        return Pkcs7Content("encrypted")
    if content_type != SIGNED_DATA:
        return Pkcs7Content("other")
    fields = _children(data, _expect(_first(data, _expect(children[1], _CONTEXT_0)), _SEQUENCE))
    # version, digestAlgorithms, encapContentInfo, ...
    if len(fields) < 3:
        raise BerError("signed-data too short")
    encapsulated = _children(data, _expect(fields[2], _SEQUENCE))
    if len(encapsulated) < 2:
        return Pkcs7Content("signed")  # detached: the content travels beside the blob
    octets = _first(data, _expect(encapsulated[1], _CONTEXT_0))
    return Pkcs7Content("signed", _octets(data, octets, 0))


def _first(data: bytes, node: _Node) -> _Node:
    """The one value an EXPLICIT tag wraps."""
    children = _children(data, node)
    if not children:
        raise BerError("explicit tag without a value")
    return children[0]


def _expect(node: _Node, tag: int) -> _Node:
    if node.tag != tag:
        raise BerError(f"expected tag {tag:#x}, found {node.tag:#x}")
    return node


def _octets(data: bytes, node: _Node, depth: int) -> bytes:
    """The bytes of an OCTET STRING, primitive or (in BER) cut into constructed pieces."""
    if depth > _MAX_DEPTH:
        raise BerError("octet string nested too deep")
    if node.tag == _OCTET_STRING:
        return data[node.start : node.end]
    if node.tag == _OCTET_STRING | 0x20:
        return b"".join(_octets(data, child, depth + 1) for child in _children(data, node))
    raise BerError(f"expected an octet string, found {node.tag:#x}")


def _children(data: bytes, parent: _Node) -> list[_Node]:
    found: list[_Node] = []
    position = parent.start
    while position < parent.end:
        child = _node(data, position, parent.end)
        if child.tag == 0 and child.start == child.end:
            break  # end-of-contents of an indefinite length
        found.append(child)
        position = child.next
    return found


def _node(data: bytes, position: int, limit: int) -> _Node:
    if position + 2 > limit:
        raise BerError("truncated")
    tag = data[position]
    if tag & 0x1F == 0x1F:
        raise BerError("high tag numbers are not used by CMS")
    first = data[position + 1]
    position += 2
    if first == 0x80:
        if not tag & 0x20:
            raise BerError("indefinite length on a primitive")
        end = _indefinite_end(data, position, limit, 0)
        return _Node(tag, position, end, end + 2)
    if first & 0x80:
        count = first & 0x7F
        if count > 4 or position + count > limit:
            raise BerError("length out of range")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    else:
        length = first
    end = position + length
    if end > limit:
        raise BerError("truncated")
    return _Node(tag, position, end, end)


def _indefinite_end(data: bytes, position: int, limit: int, depth: int) -> int:
    """Where the end-of-contents marker of an indefinite-length value starts."""
    if depth > _MAX_DEPTH:
        raise BerError("nested too deep")
    while position + 2 <= limit:
        if data[position] == 0 and data[position + 1] == 0:
            return position
        if data[position + 1] == 0x80:
            inner_end = _indefinite_end(data, position + 2, limit, depth + 1)
            position = inner_end + 2
        else:
            position = _node(data, position, limit).next
    raise BerError("no end-of-contents")


def _oid(encoded: bytes) -> str:
    if not encoded:
        raise BerError("empty object identifier")
    values: list[int] = []
    current = 0
    for byte in encoded:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(current)
            current = 0
    first = min(values[0] // 40, 2)
    return ".".join(str(v) for v in (first, values[0] - 40 * first, *values[1:]))
