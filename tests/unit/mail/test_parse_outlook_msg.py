"""Outlook .msg attachments are opened within the mail's unpacking limits; an OLE2 file
that is no Outlook item (a Word .doc) is left as it came, and a broken one is a defect."""

from __future__ import annotations

from email.message import EmailMessage

from mail.parse import ArchiveLimits, document_attachments, parse_message
from mail.parse.archives import Budget
from mail.parse.outlook_msg import looks_like_msg, unpack_msg
from tests.outlook_files import _Entry as Entry
from tests.outlook_files import compound_file, outlook_message

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _mail_with(data: bytes, filename: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@b.fr"
    msg["Subject"] = "TR: facture"
    msg.set_content("ci-joint")
    msg.add_attachment(data, "application", "octet-stream", filename=filename)
    return msg.as_bytes()


def test_the_files_of_an_outlook_item_are_documents_named_as_in_outlook() -> None:
    big = PDF + b"%" + b"x" * 9000  # past the mini stream: read from regular sectors
    saved = outlook_message(
        [("Facture n°41.pdf", PDF), ("Relevé.pdf", big)],
        inner=("Avoir.pdf", PDF + b"% avoir"),
    )
    msg = parse_message(_mail_with(saved, "Votre facture.msg"))
    found = [(a.filename, a.origin, len(a.data)) for a in document_attachments(msg)]
    assert found == [
        ("Facture n°41.pdf", ("Votre facture.msg",), len(PDF)),
        ("Relevé.pdf", ("Votre facture.msg",), len(big)),
        ("Avoir.pdf", ("Votre facture.msg",), len(PDF + b"% avoir")),
    ]


def test_an_outlook_item_without_its_extension_is_still_opened() -> None:
    msg = parse_message(_mail_with(outlook_message([("f.pdf", PDF)]), "piece-jointe"))
    assert [a.filename for a in document_attachments(msg)] == ["f.pdf"]


def test_a_word_document_is_not_taken_for_an_outlook_item() -> None:
    doc = compound_file(Entry("Root Entry", 5, children=[Entry("WordDocument", 2, b"w" * 600)]))
    assert not looks_like_msg(doc)
    msg = parse_message(_mail_with(doc, "lettre"))
    assert [(a.filename, a.origin) for a in msg.attachments] == [("lettre", ())]
    assert not any("Outlook" in defect for defect in msg.defects)


def test_files_past_the_mails_limit_are_skipped_with_a_defect() -> None:
    saved = outlook_message([(f"f{i}.pdf", PDF) for i in range(5)])
    budget = Budget(ArchiveLimits(max_files=3))
    members, defects = unpack_msg(saved, name="lot.msg", budget=budget)
    assert [m.path for m in members] == ["f0.pdf", "f1.pdf", "f2.pdf"]
    assert defects == ["lot.msg: over the unpacking limits, rest skipped"]


def test_a_broken_outlook_file_is_a_defect_not_an_error() -> None:
    saved = outlook_message([("f.pdf", PDF)])
    broken = saved[:512] + b"\xff" * (len(saved) - 512)  # the header kept, the rest lost
    members, defects = unpack_msg(broken, name="abîmé.msg", budget=Budget())
    assert members == []
    assert defects == ["abîmé.msg: not a readable Outlook message"]
    msg = parse_message(_mail_with(broken, "abîmé.msg"))
    assert document_attachments(msg) == ()
    assert "abîmé.msg: not a readable Outlook message" in msg.defects
