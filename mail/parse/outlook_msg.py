"""Unpack Outlook's .msg files: a mail saved from Outlook and attached to another, the way
an assistant forwards "the invoice mail" to the bookkeeper.

A .msg is an OLE2 compound file laid out by [MS-OXMSG]. Each attachment is a storage
`__attach_version1.0_#XXXXXXXX` holding MAPI properties as streams named
`__substg1.0_TTTTPPPP` (property tag, then type): the bytes in PidTagAttachDataBinary
(3701/0102), the name in PidTagAttachLongFilename (3707) or PidTagAttachFilename (3704),
as Unicode (001F) or in the message's code page (001E). An attached Outlook item
(3701/000D) is itself a message storage, read the same way.

olefile (BSD) reads the container; extract-msg, the usual parser, is GPL. Sizes are read
from the directory before any stream is, so the mail's unpacking budget holds.
"""

from __future__ import annotations

import io

import olefile

from mail.parse.archives import Budget, Member
from mail.parse.headers import decode_bytes

_ATTACHMENT_PREFIX = "__attach_version1.0_#"
_DATA = "__substg1.0_37010102"
_EMBEDDED = "__substg1.0_3701000D"
_NAMES = ("__substg1.0_3707", "__substg1.0_3704")  # long name first, then the 8.3 one
_CODEPAGE_8BIT = "cp1252"
_MAX_NESTING = 3


def looks_like_msg(data: bytes) -> bool:
    """An OLE2 file with a MAPI property stream at its root: an Outlook item, not a .doc."""
    if not olefile.isOleFile(io.BytesIO(data[:1024])):
        return False
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            return bool(ole.exists("__properties_version1.0"))
    except Exception:
        return False


def unpack_msg(data: bytes, *, name: str, budget: Budget) -> tuple[list[Member], list[str]]:
    """Return the files attached to the Outlook item `data`, and the defects met; never raises."""
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        return [], [f"{name}: not a readable Outlook message"]
    members: list[Member] = []
    defects: list[str] = []
    try:
        if not ole.exists("__properties_version1.0"):
            return [], [f"{name}: not a readable Outlook message"]
        _walk(ole, [], name, budget, members, defects, depth=0)
    except Exception as error:  # a directory olefile cannot follow: keep what was read
        defects.append(f"{name}: unreadable Outlook message ({type(error).__name__})")
    finally:
        ole.close()
    return members, defects


def _walk(
    ole: olefile.OleFileIO,
    base: list[str],
    name: str,
    budget: Budget,
    members: list[Member],
    defects: list[str],
    *,
    depth: int,
) -> None:
    storages = sorted(
        {
            entry[len(base)]
            for entry in ole.listdir(streams=True, storages=True)
            if len(entry) > len(base)
            and entry[: len(base)] == base
            and entry[len(base)].startswith(_ATTACHMENT_PREFIX)
        }
    )
    for index, storage in enumerate(storages, start=1):
        path = [*base, storage]
        if ole.exists("/".join([*path, _EMBEDDED])):
            if depth + 1 >= _MAX_NESTING:
                defects.append(f"{name}: Outlook items nested too deep, not opened")
                continue
            _walk(ole, [*path, _EMBEDDED], name, budget, members, defects, depth=depth + 1)
            continue
        data_path = "/".join([*path, _DATA])
        if not ole.exists(data_path):
            continue  # a link to a file elsewhere, or an OLE object: no bytes to keep
        size = ole.get_size(data_path)
        if budget.files_left <= 0 or size > budget.bytes_left:
            defects.append(f"{name}: over the unpacking limits, rest skipped")
            return
        content = ole.openstream(data_path).read()
        if not content:
            continue
        budget.files_left -= 1
        budget.bytes_left -= len(content)
        members.append(Member(path=_filename(ole, path, index), data=content))


def _filename(ole: olefile.OleFileIO, path: list[str], index: int) -> str:
    for prefix in _NAMES:
        for kind, codec in (("001F", "utf-16-le"), ("001E", _CODEPAGE_8BIT)):
            stream = "/".join([*path, prefix + kind])
            if not ole.exists(stream):
                continue
            raw = ole.openstream(stream).read()
            unicode = kind == "001F"
            text = raw.decode(codec, errors="replace") if unicode else decode_bytes(raw, codec)
            text = text.strip("\x00 ")
            if text:
                return text
    return f"attachment-{index}"
