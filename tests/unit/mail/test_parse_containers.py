"""Zips and winmail.dat are unpacked within limits; hostile ones cost neither time nor memory."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
from email.message import EmailMessage
from pathlib import Path

from mail.parse import ArchiveLimits, document_attachments, parse_message
from mail.parse.archives import Budget, unpack_zip
from mail.parse.tnef import unpack_tnef

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mail"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _mail_with(data: bytes, filename: str, maintype: str, subtype: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@b.fr"
    msg["Subject"] = "x"
    msg.set_content("ci-joint")
    msg.add_attachment(data, maintype, subtype, filename=filename)
    return msg.as_bytes()


def _tnef_attribute(level: int, attribute_id: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute_id, len(data)) + data + struct.pack("<H", checksum)


def _tnef(title: bytes, data: bytes, mapi: bytes | None = None) -> bytes:
    stream = struct.pack("<IH", 0x223E9F78, 1)
    stream += _tnef_attribute(1, 0x00089006, struct.pack("<I", 0x00010000))
    stream += _tnef_attribute(2, 0x00069002, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))
    stream += _tnef_attribute(2, 0x00018010, title + b"\x00")
    stream += _tnef_attribute(2, 0x0006800F, data)
    if mapi is not None:
        stream += _tnef_attribute(2, 0x00069005, mapi)
    return stream


def test_zip_of_two_pdfs_skips_macos_junk() -> None:
    msg = parse_message((FIXTURES / "zip_two_pdfs.eml").read_bytes())
    assert [(a.filename, a.origin) for a in document_attachments(msg)] == [
        ("Facture_001.pdf", ("factures_octobre.zip",)),
        ("Facture_002.pdf", ("factures_octobre.zip",)),
    ]
    assert len(msg.attachments) == 2


def test_zip_bomb_yields_nothing_quickly_and_cheaply() -> None:
    raw = (FIXTURES / "zip_bomb.eml").read_bytes()
    tracemalloc.start()
    # CPU time, not wall time: on a busy machine the wall clock measures the neighbours.
    started = time.process_time()
    msg = parse_message(raw)
    elapsed = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert msg.attachments == ()
    assert any("zip bomb" in defect for defect in msg.defects)
    assert elapsed < 10  # a bomb unpacked would take minutes; the margin is for a busy CI
    assert peak < 10 * 1024 * 1024


def test_zip_member_lying_about_its_size_is_not_expanded() -> None:
    honest = _zip([("facture.pdf", PDF + b"\x00" * 5_000_000)])
    # Rewrite the declared size, in the local and central headers, to 100 bytes.
    declared = struct.pack("<I", len(PDF) + 5_000_000)
    lying = honest.replace(declared, struct.pack("<I", 100))
    tracemalloc.start()
    members, defects = unpack_zip(lying, name="x.zip", budget=Budget())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert members == []
    assert len(defects) == 1
    assert "x.zip" in defects[0]
    assert peak < 5 * 1024 * 1024


def test_zip_with_too_many_files_keeps_the_first_ones() -> None:
    archive = _zip([(f"f{index}.pdf", PDF) for index in range(5)])
    budget = Budget(ArchiveLimits(max_files=3))
    members, defects = unpack_zip(archive, name="many.zip", budget=budget)
    assert [member.path for member in members] == ["f0.pdf", "f1.pdf", "f2.pdf"]
    assert defects == ["many.zip: more than 3 files, rest skipped"]


def test_zip_past_the_byte_budget_is_dropped_whole() -> None:
    archive = _zip([("a.pdf", PDF + bytes(range(256)) * 4), ("b.pdf", PDF + bytes(range(256)) * 4)])
    budget = Budget(ArchiveLimits(max_total_bytes=1500))
    members, defects = unpack_zip(archive, name="big.zip", budget=budget)
    assert members == []
    assert "zip bomb suspected" in defects[-1]


def test_zip_with_a_huge_directory_is_refused_before_reading_it() -> None:
    archive = _zip([(f"{index}.txt", b"") for index in range(1001)], zipfile.ZIP_STORED)
    members, defects = unpack_zip(archive, name="dir.zip", budget=Budget())
    assert members == []
    assert defects == ["dir.zip: zip bomb suspected (1001 entries), not unpacked"]


def test_zip_paths_that_climb_out_are_skipped() -> None:
    archive = _zip(
        [("../evil.pdf", PDF), ("/abs.pdf", PDF), ("C:/win.pdf", PDF), ("ok/a.pdf", PDF)]
    )
    members, defects = unpack_zip(archive, name="t.zip", budget=Budget())
    assert [member.path for member in members] == ["ok/a.pdf"]
    assert len(defects) == 3


def test_nested_zips_stop_at_depth_two() -> None:
    level3 = _zip([("deep.pdf", PDF)])
    level2 = _zip([("middle.pdf", PDF), ("level3.zip", level3)])
    level1 = _zip([("top.pdf", PDF), ("level2.zip", level2)])
    msg = parse_message(_mail_with(level1, "level1.zip", "application", "zip"))
    assert [(a.filename, a.origin) for a in msg.attachments] == [
        ("top.pdf", ("level1.zip",)),
        ("middle.pdf", ("level1.zip", "level2.zip")),
    ]
    assert "level3.zip: zip nested too deep, not unpacked" in msg.defects


def test_broken_zip_is_a_defect() -> None:
    msg = parse_message(_mail_with(b"PK\x03\x04" + b"\x00" * 200, "x.zip", "application", "zip"))
    assert msg.attachments == ()
    assert "x.zip: not a readable zip" in msg.defects


def test_tnef_title_in_windows_1252() -> None:
    members, defects = unpack_tnef(
        _tnef("Relevé.pdf".encode("cp1252"), PDF), name="w", budget=Budget()
    )
    assert [(member.path, member.data) for member in members] == [("Relevé.pdf", PDF)]
    assert defects == []


def test_tnef_with_an_endless_property_count_is_cut_short() -> None:
    # Four billion properties announced, none present: tnefparse alone would loop on.
    endless = struct.pack("<I", 0xFFFFFFFF)
    started = time.process_time()
    members, _ = unpack_tnef(_tnef(b"f.pdf", PDF, endless), name="w", budget=Budget())
    assert time.process_time() - started < 1
    assert [member.path for member in members] == ["f.pdf"]


def test_tnef_with_an_endless_multi_value_count_is_cut_short() -> None:
    # One PT_MV_LONG property claiming four billion values.
    endless = struct.pack("<IHHI", 1, 0x1003, 0x6600, 0xFFFFFFFF)
    started = time.process_time()
    members, _ = unpack_tnef(_tnef(b"f.pdf", PDF, endless), name="w", budget=Budget())
    assert time.process_time() - started < 1
    assert [member.path for member in members] == ["f.pdf"]


def _attached_item(inner: bytes) -> bytes:
    """An attachment's MAPI block carrying an attached Outlook item: PidTagAttachDataObject
    (PT_OBJECT), whose value is the IID_IMessage GUID then the item's own TNEF stream."""
    iid_imessage = bytes.fromhex("0703020000000000c000000000000046")
    value = iid_imessage + inner
    padding = b"\x00" * (-len(value) % 4)
    return struct.pack("<IHHII", 1, 0x000D, 0x3701, 1, len(value)) + value + padding


def test_tnef_files_inside_an_attached_outlook_item_are_found() -> None:
    # Exchange's winmail.dat carries a forwarded mail as an item, which carries the PDF.
    inner = _tnef(b"Facture.pdf", PDF)
    item = _tnef(b"Fwd.msg", b"", _attached_item(inner))
    members, defects = unpack_tnef(item, name="winmail.dat", budget=Budget())
    assert [(member.path, member.data) for member in members] == [("Facture.pdf", PDF)]
    assert defects == []
    msg = parse_message(_mail_with(item, "winmail.dat", "application", "ms-tnef"))
    assert [(a.filename, a.data) for a in document_attachments(msg)] == [("Facture.pdf", PDF)]


def test_tnef_items_nested_without_end_stop_at_a_few_levels() -> None:
    stream = _tnef(b"Facture.pdf", PDF)
    for level in range(12):
        stream = _tnef(f"level{level}.msg".encode(), b"", _attached_item(stream))
    members, defects = unpack_tnef(stream, name="winmail.dat", budget=Budget())
    assert members == []
    assert any("more than 4 levels deep" in defect for defect in defects)


def test_an_attached_item_that_is_not_tnef_is_a_defect_not_a_crash() -> None:
    item = _tnef(b"Fwd.msg", b"", _attached_item(b"not a tnef stream at all"))
    members, defects = unpack_tnef(item, name="winmail.dat", budget=Budget())
    assert members == []
    assert defects == ["winmail.dat: attached item 1: not a readable TNEF stream"]


def test_tnef_garbage_is_a_defect() -> None:
    garbage = b"\x78\x9f\x3e\x22" + bytes(range(256)) * 20
    msg = parse_message(_mail_with(garbage, "winmail.dat", "application", "ms-tnef"))
    assert document_attachments(msg) == ()
