"""S/MIME blobs: opaque signed-data is unwrapped so its attachments are found; encrypted
data is kept with a reason (issue #16). The blobs are made with cryptography's PKCS7 API."""

from __future__ import annotations

import datetime
from email.message import EmailMessage

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mail.parse import document_attachments, parse_message

PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"


def _identity() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "factures@plombier.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _inner() -> bytes:
    inner = EmailMessage()
    inner.set_content("Votre facture.")
    inner.add_attachment(PDF, "application", "pdf", filename="facture-7.pdf")
    return inner.as_bytes()


def _wrapped(blob: bytes, smime_type: str) -> bytes:
    outer = EmailMessage()
    outer["From"] = "factures@plombier.example"
    outer["Subject"] = "Facture 7"
    outer.set_content(
        blob, "application", "pkcs7-mime", params={"smime-type": smime_type}, filename="smime.p7m"
    )
    return outer.as_bytes()


def test_opaque_signed_mail_is_unwrapped_and_its_invoice_found() -> None:
    cert, key = _identity()
    blob = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(_inner())
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    parsed = parse_message(_wrapped(blob, "signed-data"))
    [pdf] = document_attachments(parsed)
    assert (pdf.filename, pdf.data) == ("facture-7.pdf", PDF)
    assert "Votre facture." in parsed.text
    assert not parsed.encrypted


def test_encrypted_mail_is_kept_with_its_reason() -> None:
    cert, _ = _identity()
    blob = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(_inner())
        .add_recipient(cert)
        .encrypt(serialization.Encoding.DER, [])
    )
    parsed = parse_message(_wrapped(blob, "enveloped-data"))
    assert parsed.encrypted
    assert document_attachments(parsed) == ()
    assert any("encrypted S/MIME" in note for note in parsed.skipped)


def test_a_forged_blob_is_noted_not_raised() -> None:
    parsed = parse_message(_wrapped(b"\x30\x84\xff\xff\xff\xff\x06", "signed-data"))
    assert document_attachments(parsed) == ()
    assert any("S/MIME data unreadable" in note for note in parsed.skipped)
