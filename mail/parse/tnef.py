"""Unpack Outlook's winmail.dat (TNEF), where Exchange hides a mail's real attachments.

Parsing is tnefparse's. It trusts the counts inside the stream, though: a property
count of four billion makes it loop four billion times. So the stream is walked first
(that costs one pass over its headers) and handed over one attachment at a time, with
only the objects that carry it, and those only when their counts fit in their bytes.

A mail attached in Outlook (an "item") travels inside the stream as an embedded
message: a TNEF stream of its own, after the IID_IMessage GUID, in the attachment's
PidTagAttachDataObject. Its files are unpacked the same way, a few levels deep at most.
"""

from __future__ import annotations

import warnings

from tnefparse.tnef import TNEF

from mail.parse.archives import Budget, Member
from mail.parse.headers import decode_bytes

SIGNATURE = b"\x78\x9f\x3e\x22"

_LEVEL_MESSAGE = 0x01
_LEVEL_ATTACHMENT = 0x02
# The objects an attachment needs; message bodies, recipients and the rest stay out.
_KEPT = {
    (_LEVEL_MESSAGE, 0x9006),  # attTnefVersion
    (_LEVEL_MESSAGE, 0x9007),  # attOemCodepage
    (_LEVEL_ATTACHMENT, 0x9002),  # attAttachRendData: starts each attachment
    (_LEVEL_ATTACHMENT, 0x8010),  # attAttachTitle
    (_LEVEL_ATTACHMENT, 0x800F),  # attAttachData
    (_LEVEL_ATTACHMENT, 0x9005),  # attAttachment: MAPI properties, with the long file name
}
_ATT_ATTACHMENT = 0x9005
_ATT_RENDDATA = 0x9002
_ATT_DATA = 0x800F
_MAX_OBJECTS = 10_000
_LONG_FILENAME = 0x3707
_EMBEDDED_MESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_FIXED_SIZES = {0x02: 2, 0x0B: 2, 0x03: 4, 0x04: 4, 0x0A: 4, 0x05: 8, 0x06: 8, 0x07: 8}
_FIXED_SIZES |= {0x14: 8, 0x40: 8, 0x48: 16}
_VARIABLE = frozenset({0x00, 0x0D, 0x1E, 0x1F, 0x102})
_MULTI_VALUE = 0x1000
#: Mails attached in mails attached in…: as deep as a person forwards, not as a bomb.
MAX_NESTING = 4


def unpack_tnef(
    data: bytes, *, name: str, budget: Budget, depth: int = 0
) -> tuple[list[Member], list[str]]:
    """Return the files carried in the TNEF stream `data`, and the defects met; never raises."""
    embedded: list[bytes] = []
    streams = _attachment_streams(data, embedded)
    if streams is None:
        return [], [f"{name}: not a readable TNEF stream"]
    members: list[Member] = []
    defects: list[str] = []
    for index, stream in enumerate(streams, start=1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tnefparse uses datetime APIs deprecated in 3.12
                parsed = TNEF(stream, do_checksum=False)
            attachment = parsed.attachments[0]
            content = bytes(attachment.data)
            filename = _member_name(attachment, str(parsed.codepage or "cp1252"), index)
        except Exception as error:
            defects.append(f"{name}: unreadable attachment {index} ({type(error).__name__})")
            continue
        if not content:
            continue
        if budget.files_left <= 0 or len(content) > budget.bytes_left:
            defects.append(f"{name}: over the unpacking limits, rest skipped")
            break
        budget.files_left -= 1
        budget.bytes_left -= len(content)
        members.append(Member(path=filename, data=content))
    for index, item in enumerate(embedded, start=1):
        if depth >= MAX_NESTING:
            defects.append(f"{name}: items attached more than {MAX_NESTING} levels deep, skipped")
            break
        inner, inner_defects = unpack_tnef(
            item, name=f"{name}: attached item {index}", budget=budget, depth=depth + 1
        )
        members += inner
        defects += inner_defects
    return members, defects


def _member_name(attachment: object, codepage: str, index: int) -> str:
    for attribute in getattr(attachment, "mapi_attrs", ()):
        if getattr(attribute, "name", None) != _LONG_FILENAME:
            continue
        try:
            value = attribute.data
        except Exception:
            continue
        value = value[0] if isinstance(value, list) and value else value
        if isinstance(value, bytes):
            value = decode_bytes(value, codepage)
        if isinstance(value, str) and value.strip("\x00 "):
            return value.strip("\x00 ")
    title = getattr(attachment, "_name", b"")
    if isinstance(title, bytes):
        title = decode_bytes(title, codepage)
    if isinstance(title, str) and title.strip("\x00 "):
        return title.strip("\x00 ")
    return f"attachment-{index}"


def _attachment_streams(data: bytes, embedded: list[bytes]) -> list[bytes] | None:
    """Split the stream into one small TNEF stream per attachment, of sane objects only;
    the streams of embedded messages (attached items) go to `embedded`.

    tnefparse copies the rest of the stream for every object it reads; fed one
    attachment at a time, with one object of each kind, its work stays linear.
    """
    if len(data) < 6 or not data.startswith(SIGNATURE):
        return None
    prefix: dict[int, bytes] = {}
    groups: list[dict[int, bytes]] = []
    offset = 6
    for _ in range(_MAX_OBJECTS):
        if offset + 9 > len(data):
            break
        level = data[offset]
        object_id = int.from_bytes(data[offset + 1 : offset + 3], "little")
        length = int.from_bytes(data[offset + 5 : offset + 9], "little")
        end = offset + 9 + length + 2
        if end > len(data):
            break  # truncated: keep what came whole
        if (level, object_id) in _KEPT:
            whole = data[offset:end]
            if level == _LEVEL_MESSAGE:
                prefix.setdefault(object_id, whole)
            elif object_id == _ATT_RENDDATA:
                groups.append({object_id: whole})
            elif groups and (object_id != _ATT_ATTACHMENT or _mapi_is_sane(whole[9:-2], embedded)):
                groups[-1].setdefault(object_id, whole)
        offset = end
    else:
        return None
    head = data[:6] + b"".join(prefix.values())
    return [
        head + b"".join(group.values())
        for group in groups
        if _ATT_DATA in group or _ATT_ATTACHMENT in group
    ]


def _mapi_is_sane(block: bytes, embedded: list[bytes]) -> bool:
    """Say whether tnefparse's decode_mapi ends quickly on `block`.

    Mirrors its walk. Where it would raise on running out of bytes, it stops, which is
    fine; where it would keep counting past the end, the block is refused. Embedded
    Outlook messages are refused too, as tnefparse would parse them unchecked: their
    streams go to `embedded`, to be unpacked here, with the same checks.
    """
    size = len(block)
    if size < 4:
        return True
    count = int.from_bytes(block[:4], "little")
    offset = 4
    for _ in range(count):
        if offset + 4 > size:
            return False  # decode_mapi would "continue" through the rest of the count
        kind = int.from_bytes(block[offset : offset + 2], "little")
        name = int.from_bytes(block[offset + 2 : offset + 4], "little")
        offset += 4
        if name >= 0x8000:  # a named property: GUID, then an id or a name
            offset += 16
            if offset + 8 > size:
                return True
            if int.from_bytes(block[offset : offset + 4], "little") == 0:
                offset += 8
            else:
                name_length = int.from_bytes(block[offset + 4 : offset + 8], "little")
                offset += 8 + name_length + (-name_length % 4)
        values = None
        if kind & _MULTI_VALUE:
            kind ^= _MULTI_VALUE
            if offset + 4 > size:
                return True
            values = int.from_bytes(block[offset : offset + 4], "little")
            offset += 4
        if kind in _FIXED_SIZES:
            offset += _FIXED_SIZES[kind] * (values or 1)
            if values and offset > size:
                return False  # slicing past the end never raises: it would count on
            if (values or 1) % 2 and kind in (0x02, 0x0B):
                offset += 2
        elif kind in _VARIABLE:
            ok, offset = _variable_values(block, offset, values, embedded)
            if not ok:
                return False
        else:
            return True  # decode_mapi raises on an unknown type and stops
    return True


def _variable_values(
    block: bytes, offset: int, values: int | None, embedded: list[bytes]
) -> tuple[bool, int]:
    size = len(block)
    if values:
        items = values  # a multi-valued property: one length per value
    else:
        if offset + 4 > size:
            return True, size
        items = int.from_bytes(block[offset : offset + 4], "little")
        offset += 4
    for _ in range(items):
        if offset + 4 > size:
            return True, size  # decode_mapi raises here and stops
        length = int.from_bytes(block[offset : offset + 4], "little")
        offset += 4
        if block[offset : offset + 16] == _EMBEDDED_MESSAGE:
            embedded.append(block[offset + 16 : offset + length])
            return False, offset
        offset += length + (-length % 4)
    return True, offset
