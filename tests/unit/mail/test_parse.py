"""parse_message reads real-world mail shapes: nesting, encodings, logos, links, breakage."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mail.parse import (
    ForwardingConfirmation,
    ParsedMessage,
    document_attachments,
    forwarding_confirmation,
    parse_message,
)
from mail.parse import mime as mime_module
from mail.parse.policy import MAIL_POLICY

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mail"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _fixture(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes())


def _mail(subject: str = "Facture") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Fournisseur <factures@fournisseur.fr>"
    msg["To"] = "acme@in.courier.test"
    msg["Subject"] = subject
    return msg


def _png(width: int, height: int, size: int) -> bytes:
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    return header + width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x00" * size


def test_fixtures_use_crlf() -> None:
    for path in FIXTURES.glob("*.eml"):
        raw = path.read_bytes()
        assert raw.count(b"\r\n") == raw.count(b"\n"), path.name


def test_forwarded_twice_yields_the_innermost_pdf() -> None:
    msg = _fixture("forwarded_twice.eml")
    assert msg.subject == "Fwd: Fwd: Facture octobre"
    assert msg.from_address == "marie@cabinet-durand.fr"
    assert msg.from_domain == "cabinet-durand.fr"
    assert msg.to == ("acme@in.courier.test",)
    assert msg.message_id == "<fwd2-0001@cabinet-durand.fr>"
    assert msg.date == datetime(2024, 11, 12, 8, 15, 2, tzinfo=UTC)
    assert msg.text == "Voici la facture transférée, en pièce jointe."
    [pdf] = msg.attachments
    assert pdf.filename == "Facture_Orange_2024-10.pdf"
    assert pdf.content_type == "application/pdf"
    assert pdf.origin == ("message/rfc822", "message/rfc822")
    assert pdf.data.startswith(b"%PDF-1.4")
    assert msg.defects == ()


def test_outlook_winmail_dat_is_unpacked() -> None:
    msg = _fixture("outlook_tnef.eml")
    assert msg.subject == "Facture de février"
    assert msg.from_address == "jean.dupont@plomberie-dupont.fr"
    assert "facture de février" in msg.text
    names = [(a.filename, a.content_type, a.origin) for a in msg.attachments]
    assert names == [
        ("Facture_février.pdf", "application/pdf", ("winmail.dat",)),
        ("Relevé.pdf", "application/pdf", ("winmail.dat",)),
    ]
    assert all(
        a.data.startswith(b"%PDF-1.4") and a.data.endswith(b"%%EOF\n") for a in msg.attachments
    )


def test_the_fixture_winmail_dat_is_valid_tnef_for_tnefparse() -> None:
    from tnefparse.tnef import TNEF

    raw = (FIXTURES / "outlook_tnef.eml").read_bytes()
    outer = email.message_from_bytes(raw, policy=policy.default)
    part = next(p for p in outer.walk() if p.get_content_type() == "application/ms-tnef")
    winmail = part.get_payload(decode=True)
    parsed = TNEF(winmail)  # with checksums verified
    assert all(obj.good_checksum for obj in parsed.objects)
    first, second = parsed.attachments
    assert first.long_filename() == "Facture_février.pdf"
    assert first.data.startswith(b"%PDF-")
    assert second.data.startswith(b"%PDF-")


def test_encodings_and_non_ascii_filenames() -> None:
    msg = _fixture("encodings.eml")
    assert msg.subject == "Vos factures de février"
    assert msg.from_address == "compta@boulangerie-heloise.fr"
    assert msg.cc == ("paul@acme.fr",)
    assert msg.text == "Bonjour,\nVeuillez trouver vos factures de février.\nMontant : 1 234,56 €"
    assert msg.html is not None
    assert "Montant : 1 234,56 €" in msg.html
    names = [a.filename for a in msg.attachments]
    assert names == ["Facture_février.pdf", "Reçu_novembre.pdf", "Avoir_été_2024.pdf"]
    assert all(a.data.startswith(b"%PDF-1.4") for a in msg.attachments)


def test_octet_stream_pdf_is_kept_and_typed_by_its_bytes() -> None:
    [scan] = _fixture("octet_stream_pdf.eml").attachments
    assert scan.filename == "scan_0042.pdf"
    assert scan.content_type == "application/pdf"
    assert scan.declared_type == "application/octet-stream"


def test_apple_mail_inline_pdf_without_disposition_is_kept() -> None:
    msg = _fixture("apple_inline_pdf.eml")
    [pdf] = msg.attachments
    assert pdf.filename == "Facture 2024-118.pdf"
    assert document_attachments(msg) == (pdf,)
    assert msg.text == "Bonjour, voici ma facture.\n\nClaire"


def test_html_only_invoice_gives_text_and_download_link() -> None:
    msg = _fixture("html_only_link.eml")
    assert msg.attachments == ()
    assert msg.html is not None
    assert "39,99 €" in msg.text
    assert "p {color" not in msg.text  # style sheets are not text
    assert msg.links == (
        "https://espace-client.telecom-exemple.fr/factures/download?id=8842&token=k3Y9",
    )


def test_logos_signatures_and_pixels_are_dropped() -> None:
    msg = _fixture("logo_pixel.eml")
    assert [a.filename for a in msg.attachments] == ["FA-2024-0091.pdf"]


def test_photo_the_html_shows_is_set_aside_not_lost() -> None:
    msg = _mail()
    msg.set_content("Voici le ticket.")
    msg.add_alternative('<p>Voici le ticket.</p><img src="cid:photo1@iphone">', subtype="html")
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 800
    html_part = msg.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(photo, "image", "jpeg", cid="<photo1@iphone>")
    parsed = parse_message(msg.as_bytes())
    assert parsed.attachments == ()
    [aside] = parsed.set_aside
    assert (aside.reason, aside.attachment.content_type) == ("shown_in_html", "image/jpeg")
    assert aside.attachment.data == photo  # kept whole, for the user to keep


@pytest.mark.parametrize(
    ("image", "name", "cid", "kept"),
    [
        (_png(600, 200, 20_000), "logo.png", "logo@x", False),  # shown by cid
        (_png(600, 200, 20_000), "scan.png", None, True),  # attached, not shown
        (_png(1, 1, 4_000), "pixel.png", None, False),  # tracking pixel
        (_png(2, 2, 4_000), "pixel.png", None, False),  # tracking pixel
        (_png(600, 1, 4_000), "spacer.png", None, False),  # one-pixel spacer line
        (_png(32, 32, 500), "icon.png", None, True),  # small, yet nobody shows it
        (_png(120, 40, 8_000), "image001.png", None, True),  # Outlook's name, not shown
        (_png(120, 40, 8_000), "image001.png", "logo@x", False),  # Outlook's, shown
        (_png(2000, 1500, 200_000), "image001.png", None, True),  # a pasted screenshot
    ],
)
def test_image_rules(image: bytes, name: str, cid: str | None, kept: bool) -> None:
    msg = _mail()
    msg.set_content("Bonjour")
    msg.add_alternative('<p>Bonjour</p><img src="cid:logo@x">', subtype="html")
    msg.add_attachment(image, "image", "png", filename=name, cid=f"<{cid}>" if cid else None)
    parsed = parse_message(msg.as_bytes())
    assert [a.filename for a in parsed.attachments] == ([name] if kept else [])
    assert [s.attachment.filename for s in parsed.set_aside] == ([] if kept else [name])


def test_forwarded_message_sent_base64_encoded_is_read() -> None:
    inner = _mail("Facture")
    inner.add_attachment(PDF, "application", "pdf", filename="f.pdf")
    outer = _mail("Fwd: Facture")
    outer.set_content("see attached")
    outer.add_attachment(inner.as_bytes(), "message", "rfc822", cte="base64")
    raw = outer.as_bytes()
    assert b"Content-Transfer-Encoding: base64" in raw
    [pdf] = parse_message(raw).attachments
    assert pdf.filename == "f.pdf"
    assert pdf.origin == ("message/rfc822",)


def test_eml_attached_as_octet_stream_is_read() -> None:
    inner = _mail("Facture")
    inner.add_attachment(PDF, "application", "pdf", filename="f.pdf")
    outer = _mail("Fwd")
    outer.add_attachment(inner.as_bytes(), "application", "octet-stream", filename="Facture.eml")
    [pdf] = parse_message(outer.as_bytes()).attachments
    assert (pdf.filename, pdf.origin) == ("f.pdf", ("message/rfc822",))


def test_document_attachments_keeps_invoice_candidates_only() -> None:
    ubl = (
        b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:'
        b'Invoice-2"><ID>1</ID></Invoice>'
    )
    msg = _mail()
    msg.set_content("Bonjour")
    msg.add_attachment(PDF, "application", "pdf", filename="a.pdf")
    msg.add_attachment(ubl, "application", "xml", filename="facture.xml")
    msg.add_attachment(b"<?xml version='1.0'?><feed/>", "text", "xml", filename="feed.xml")
    msg.add_attachment(
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text", "calendar", filename="r.ics"
    )
    parsed = parse_message(msg.as_bytes())
    assert len(parsed.attachments) == 4
    assert [a.filename for a in document_attachments(parsed)] == ["a.pdf", "facture.xml"]


def test_broken_mime_never_raises_and_keeps_what_it_can() -> None:
    msg = _fixture("broken_mime.eml")
    assert msg.subject == "Facture été 2024"  # raw Latin-1 in the header
    assert msg.message_id == "<[[[>"  # the modern parser raises IndexError on it
    assert msg.date is None
    assert msg.to == ("acme@in.courier.test",)
    assert "été, à bientôt" in msg.text
    [pdf] = document_attachments(msg)
    assert pdf.data.startswith(b"%PDF-1.4")
    assert "multipart/mixed: CloseBoundaryNotFoundDefect" in msg.defects
    assert "application/pdf: InvalidBase64CharactersDefect" in msg.defects


def test_latin1_filename_bytes_are_recovered() -> None:
    raw = (
        b"From: a@b.fr\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="F\xe9vrier.pdf"\r\n\r\n'
        + PDF.replace(b"\n", b"\r\n")
        + b"\r\n--b--\r\n"
    )
    [pdf] = parse_message(raw).attachments
    assert pdf.filename == "Février.pdf"


def test_falls_back_to_compat32_when_the_modern_policy_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = mime_module._read

    def failing_default(raw: bytes, mail_policy: object, defects: list[str]) -> ParsedMessage:
        if mail_policy is MAIL_POLICY:
            raise IndexError("simulated header bug")
        return original(raw, mail_policy, defects)  # type: ignore[arg-type]

    monkeypatch.setattr(mime_module, "_read", failing_default)
    msg = _fixture("encodings.eml")
    assert msg.subject == "Vos factures de février"
    assert msg.attachments[0].filename == "Facture_février.pdf"
    assert "policy default failed: IndexError" in msg.defects


@pytest.mark.parametrize("raw", [b"", b"\x00\xff" * 50, b"not a mail at all", b"From: \r\n\r\n"])
def test_garbage_gives_an_empty_message(raw: bytes) -> None:
    msg = parse_message(raw)
    assert msg.attachments == ()
    assert msg.date is None


def test_gmail_forwarding_confirmation_english() -> None:
    assert forwarding_confirmation(_fixture("gmail_forwarding.eml")) == ForwardingConfirmation(
        provider="gmail",
        code="613709052",
        link="https://mail-settings.google.com/mail/vf-%5BANGjdJ8wXs1vQ%5D-3kLpZ0bYdTq",
        requested_by="paul.martin@gmail.com",
    )


def test_gmail_forwarding_confirmation_french_html() -> None:
    assert forwarding_confirmation(_fixture("gmail_forwarding_fr.eml")) == ForwardingConfirmation(
        provider="gmail",
        code="482113907",
        link="https://mail-settings.google.com/mail/vf-%5BANGjdJ9Qm2%5D-Zr8Kx1",
        requested_by="claire@gmail.com",
    )


def test_microsoft_style_forwarding_verification() -> None:
    msg = _mail("Verify your forwarding address")
    msg.replace_header(
        "From", "Microsoft <account-security-noreply@accountprotection.microsoft.com>"
    )
    msg.set_content(
        "Use security code 4827 to verify forwarding to acme@in.courier.test.\n"
        "Or confirm here: https://account.live.com/confirm?token=abc\n"
    )
    found = forwarding_confirmation(parse_message(msg.as_bytes()))
    assert found == ForwardingConfirmation(
        "microsoft", "4827", "https://account.live.com/confirm?token=abc", None
    )


@pytest.mark.parametrize(
    "name", ["encodings.eml", "forwarded_twice.eml", "html_only_link.eml", "otp_html_only.eml"]
)
def test_ordinary_mail_is_no_forwarding_confirmation(name: str) -> None:
    assert forwarding_confirmation(_fixture(name)) is None


def test_bank_transfer_confirmation_is_no_forwarding_confirmation() -> None:
    msg = _mail("Confirmation de transfert")
    msg.set_content("Votre virement de 250,00 € est confirmé. Code de confirmation : 558120")
    assert forwarding_confirmation(parse_message(msg.as_bytes())) is None


def test_uuencoded_file_in_a_text_body_is_found() -> None:
    import binascii

    body = "Ci-joint le ticket.\n\nbegin 644 ticket.pdf\n"
    body += "".join(binascii.b2a_uu(PDF[i : i + 45]).decode() for i in range(0, len(PDF), 45))
    body += "`\nend\n"
    msg = _mail()
    msg.set_content(body)
    [pdf] = document_attachments(parse_message(msg.as_bytes()))
    assert (pdf.filename, pdf.data) == ("ticket.pdf", PDF)


def test_a_cid_shows_only_the_first_part_that_carries_it() -> None:
    msg = _mail()
    msg.set_content("Bonjour")
    msg.add_alternative('<p>Bonjour</p><img src="cid:same@x">', subtype="html")
    msg.add_attachment(_png(50, 50, 3_000), "image", "png", filename="logo.png", cid="<same@x>")
    msg.add_attachment(_png(256, 256, 9_000), "image", "png", filename="scan.png", cid="<same@x>")
    parsed = parse_message(msg.as_bytes())
    assert [a.filename for a in parsed.attachments] == ["scan.png"]
    assert [s.attachment.filename for s in parsed.set_aside] == ["logo.png"]


def test_a_forwarded_mails_html_does_not_hide_the_outer_mails_image() -> None:
    inner = _mail("Newsletter")
    inner.set_content("x")
    inner.add_alternative('<img src="cid:photo@x">', subtype="html")
    outer = _mail("Fwd")
    outer.set_content("voir la photo")
    outer.add_attachment(
        _png(640, 480, 9_000), "image", "png", filename="photo.png", cid="<photo@x>"
    )
    outer.add_attachment(inner.as_bytes(), "message", "rfc822")
    assert [a.filename for a in parse_message(outer.as_bytes()).attachments] == ["photo.png"]
