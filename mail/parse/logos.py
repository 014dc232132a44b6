"""Tell a mail's decoration (logos, signatures, tracking pixels) from a photo of a receipt.

An image is decoration when it is tiny, when it is a one-pixel tracker, or when it is
logo-sized and either the HTML shows it through cid: or Outlook named it image001.png.
A big image stays even when the body shows it: phones put a photographed receipt inline.
"""

from __future__ import annotations

import re

from mail.parse.model import Attachment

TINY_BYTES = 2 * 1024
# Logos and signatures weigh a few KB; a phone photo or a scan weighs far more.
LOGO_MAX_BYTES = 100 * 1024

_OUTLOOK_IMAGE = re.compile(r"image\d{3}\.(?:png|jpe?g|gif|bmp)", re.IGNORECASE)


def is_decoration(attachment: Attachment, *, content_id: str | None, cids: frozenset[str]) -> bool:
    """Say whether an image attachment is a logo, a signature or a tracking pixel."""
    if not attachment.content_type.startswith("image/"):
        return False
    if attachment.size < TINY_BYTES:
        return True
    dimensions = image_dimensions(attachment.data)
    if dimensions is not None and min(dimensions) <= 1:
        return True
    shown = content_id is not None and content_id in cids
    named = _OUTLOOK_IMAGE.fullmatch(attachment.filename) is not None
    return (shown or named) and attachment.size < LOGO_MAX_BYTES


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) read from a PNG's or GIF's header, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    return None
