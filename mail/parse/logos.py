"""Tell a mail's decoration (logos, signatures, tracking pixels) from an image someone sent.

An image is decoration only when the HTML of its own message shows it through cid:, or
when it is a tracking pixel or spacer (a side of two pixels or less). Size says nothing:
Apple Mail sends real attachments `inline`, and a scanned receipt can weigh 400 bytes as
a GIF. Outlook's image001.png is decoration only because, and when, its HTML shows it.
An image without a file name is set aside too: no mailer attaches a photo without one.
Decoration is set aside with its reason, never dropped: the user may keep it.
"""

from __future__ import annotations

from mail.parse.model import Attachment, DecorationReason

#: A side this thin is a tracking pixel or a spacer line, never a document.
PIXEL_MAX = 2

_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SCAN_LIMIT = 256 * 1024


def decoration_reason(
    attachment: Attachment, *, named: bool, shown: bool
) -> DecorationReason | None:
    """Why an image is decoration, or None for a document (and for anything not an image)."""
    if not attachment.content_type.startswith("image/"):
        return None
    if shown:
        return "shown_in_html"
    dimensions = image_dimensions(attachment.data)
    if dimensions is not None and min(dimensions) <= PIXEL_MAX:
        return "tracking_pixel"
    if not named:
        return "unnamed"
    return None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) read from a PNG's, GIF's or JPEG's header, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"\xff\xd8"):
        return _jpeg_dimensions(data)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    # Walk the segments up to the frame header; a bounded walk, as the file is untrusted.
    position = 2
    limit = min(len(data), _JPEG_SCAN_LIMIT)
    while position + 4 <= limit:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _JPEG_FRAMES and position + 9 <= len(data):
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return width, height
        if length < 2:
            return None
        position += 2 + length
    return None
