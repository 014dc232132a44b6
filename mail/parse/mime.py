"""Turn a raw inbound mail into a ParsedMessage: its headers, text, links and every file.

Every MIME part is visited, not only those EmailMessage.iter_attachments reports: it
misses files inside multipart/related and multipart/alternative, where Apple Mail and
Outlook put PDFs. Files are followed into forwarded mails, winmail.dat and zips, and
their type is read from their bytes. Nothing raises: what was malformed becomes a defect.
"""

from __future__ import annotations

import binascii
import quopri
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.policy import Policy

from core.filenames import safe_filename
from core.sniff import (
    OCTET_STREAM,
    OLE2,
    OUTLOOK_MSG,
    TNEF,
    ZIP,
    einvoice_syntax,
    extension_for,
    is_document_type,
    sniff_content_type,
)
from mail.parse.archives import Budget, unpack_zip
from mail.parse.bodies import parse_bytes
from mail.parse.headers import (
    decode_bytes,
    header_addresses,
    header_date,
    header_text,
    part_filename,
)
from mail.parse.html_text import HtmlReading, normalise_cid, read_html
from mail.parse.links import invoice_links
from mail.parse.logos import decoration_reason
from mail.parse.model import Attachment, ParsedMessage, SetAside
from mail.parse.outlook_msg import looks_like_msg, unpack_msg
from mail.parse.policy import MAIL_POLICY
from mail.parse.smime import PKCS7_TYPES, BerError, read_pkcs7
from mail.parse.tnef import unpack_tnef
from mail.parse.uuencode import uuencoded_files

MAX_PARTS = 500
MAX_FORWARD_NESTING = 8
_MAX_DEPTH = 60
_RFC822 = "message/rfc822"
_XML_HEAD = 8192
_HEADERS_WITH_DEFECTS = ("from", "to", "cc", "subject", "date", "message-id")
# GIFs are no document type for an upload (core.sniff), but a named GIF that survived the
# decoration rule is something a person attached: a scan, a receipt, a screenshot.
_MAIL_IMAGE_TYPES = frozenset({"image/gif"})
_IMAGE_HEAD = 32


def parse_message(raw: bytes) -> ParsedMessage:
    """Read an inbound mail; never raises, whatever the bytes."""
    defects: list[str] = []
    for mail_policy, label in ((MAIL_POLICY, "default"), (policy.compat32, "compat32")):
        try:
            return _read(bytes(raw), mail_policy, defects)
        except Exception as error:  # the stdlib's parsers have corners that raise
            defects.append(f"policy {label} failed: {type(error).__name__}")
    return ParsedMessage(
        message_id="",
        subject="",
        from_address="",
        from_domain="",
        to=(),
        cc=(),
        date=None,
        text="",
        html=None,
        attachments=(),
        links=(),
        defects=tuple(defects),
    )


def document_attachments(msg: ParsedMessage) -> tuple[Attachment, ...]:
    """Return the attachments that may be invoices: PDFs, images, office files, e-invoices,
    and XML with a DTD or entities (XXE, billion laughs), kept to be refused with a reason."""
    return tuple(
        attachment
        for attachment in msg.attachments
        if _is_document_file(attachment)
        and (
            not attachment.content_type.endswith("xml")
            or einvoice_syntax(attachment.data)
            or _declares_dtd(attachment.data)
        )
    )


def _is_document_file(attachment: Attachment) -> bool:
    content_type = attachment.content_type
    if not content_type.startswith("image/"):
        return is_document_type(content_type)
    # An image's bytes must say so: a name over a placeholder ("map.gif") is no image.
    really = sniff_content_type(attachment.data[:_IMAGE_HEAD]) == content_type
    return really and (is_document_type(content_type) or content_type in _MAIL_IMAGE_TYPES)


_DTD_MARKERS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)


def _declares_dtd(data: bytes) -> bool:
    head = data[:_XML_HEAD]
    return any(marker in head for marker in _DTD_MARKERS)


def _read(raw: bytes, mail_policy: Policy, defects: list[str]) -> ParsedMessage:
    msg = parse_bytes(raw, mail_policy)
    walk = _Walk(mail_policy, defects)
    walk.visit(msg, (), 0, None)
    for name in _HEADERS_WITH_DEFECTS:
        for defect in getattr(_safe_get(msg, name), "defects", ()):
            walk.defect(f"{name}: {type(defect).__name__}")
    readings = tuple(read_html(html) for _, html in walk.htmls)
    kept, set_aside = _sort_images(walk, readings)
    text = _best_text(walk, readings)
    top_level = min((level for level, _ in walk.htmls), default=0)
    htmls = [html for level, html in walk.htmls if level == top_level]
    from_address = next(iter(header_addresses(msg, "from")), "")
    return ParsedMessage(
        message_id=header_text(msg, "message-id"),
        subject=header_text(msg, "subject"),
        from_address=from_address,
        from_domain=from_address.rpartition("@")[2],
        to=header_addresses(msg, "to"),
        cc=header_addresses(msg, "cc"),
        date=header_date(msg),
        text=text,
        html="\n".join(htmls) or None,
        attachments=kept,
        set_aside=set_aside,
        encrypted=walk.encrypted,
        links=invoice_links("\n".join(body for _, body in walk.texts) or text, readings),
        defects=tuple(dict.fromkeys(defects)),
        originals=tuple(walk.originals),
        skipped=tuple(dict.fromkeys(walk.skipped)),
    )


def _sort_images(
    walk: _Walk, readings: tuple[HtmlReading, ...]
) -> tuple[tuple[Attachment, ...], tuple[SetAside, ...]]:
    """Keep documents, set decoration aside. A cid: reference shows the first part with
    that Content-ID in the same message (a forwarded mail's HTML shows its own images
    only); a second part that reuses the Content-ID is shown by nothing."""
    shown_ids: dict[int | None, set[str]] = {}
    for scope, reading in zip(walk.html_scopes, readings, strict=True):
        shown_ids.setdefault(scope, set()).update(reading.cids)
    claimed: set[tuple[int | None, str]] = set()
    kept: list[Attachment] = []
    set_aside: list[SetAside] = []
    for found in walk.found:
        key = (found.scope, found.content_id or "")
        shown = (
            found.content_id is not None
            and found.content_id in shown_ids.get(found.scope, ())
            and key not in claimed
        )
        if shown:
            claimed.add(key)
        reason = decoration_reason(found.attachment, named=found.named, shown=shown)
        if reason is None:
            kept.append(found.attachment)
        else:
            set_aside.append(SetAside(found.attachment, reason))
    return tuple(kept), tuple(set_aside)


def _best_text(walk: _Walk, readings: tuple[HtmlReading, ...]) -> str:
    # The mail's own text first; a forwarded mail's only when the forward says nothing.
    html_texts = [
        (level, reading.text) for (level, _), reading in zip(walk.htmls, readings, strict=True)
    ]
    for level in sorted({level for level, _ in walk.texts + html_texts}):
        plain = [body.strip() for lv, body in walk.texts if lv == level and body.strip()]
        if plain:
            return "\n\n".join(plain)
        converted = [body for lv, body in html_texts if lv == level and body]
        if converted:
            return "\n\n".join(converted)
    return ""


@dataclass(frozen=True, slots=True)
class _Found:
    """A file met on the walk: `scope` is the message (forwarded original index, None for
    the mail itself) whose HTML may show it by `content_id`; `named` if it had a name."""

    attachment: Attachment
    content_id: str | None
    named: bool
    scope: int | None


class _Walk:
    """The state of one pass over a message's parts."""

    __slots__ = (
        "budget",
        "defects",
        "encrypted",
        "found",
        "html_scopes",
        "htmls",
        "originals",
        "parts",
        "policy",
        "skipped",
        "texts",
    )

    def __init__(self, mail_policy: Policy, defects: list[str]) -> None:
        self.policy = mail_policy
        self.defects = defects
        self.budget = Budget()
        self.parts = 0
        self.texts: list[tuple[int, str]] = []
        self.htmls: list[tuple[int, str]] = []
        self.found: list[_Found] = []
        self.html_scopes: list[int | None] = []
        self.encrypted = False
        self.originals: list[bytes] = []
        self.skipped: list[str] = []

    def defect(self, text: str) -> None:
        self.defects.append(text)

    def skip(self, text: str) -> None:
        """Something was not read: a defect, and a note the message keeps (nothing silent)."""
        self.defects.append(text)
        self.skipped.append(text)

    def visit(
        self,
        part: Message,
        origin: tuple[str, ...],
        depth: int,
        original: int | None,
        root: bool = False,
    ) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS or depth > _MAX_DEPTH:
            self.skip(f"more than {MAX_PARTS} parts or {_MAX_DEPTH} levels, rest skipped")
            return
        content_type = _content_type(part)
        if not part.is_multipart():
            self._leaf(part, content_type, origin, original, depth, root)
        # Read after the leaf: decoding a bad base64 body is what records its defect.
        for defect in getattr(part, "defects", ()):
            self.defect(f"{content_type}: {type(defect).__name__}")
        if not part.is_multipart():
            return
        payload = part.get_payload()
        if not isinstance(payload, list) or not payload:
            return
        if content_type.startswith("message/"):
            if origin.count(_RFC822) >= MAX_FORWARD_NESTING:
                self.skip(f"forwarded more than {MAX_FORWARD_NESTING} levels deep, skipped")
                return
            encoded = _encoded_message(part, payload)
            if encoded is not None:
                self._forwarded(encoded, origin)
                return
            origin = (*origin, _RFC822)
            if content_type == _RFC822 and isinstance(payload[0], Message):
                original = self._original(_message_bytes(payload[0]))
        root_index = _related_root(part, payload) if content_type == "multipart/related" else -1
        for index, sub in enumerate(payload):
            if isinstance(sub, Message):
                self.visit(sub, origin, depth + 1, original, root=index == root_index)

    def _original(self, data: bytes | None) -> int | None:
        if data is None:
            return None
        self.originals.append(data)
        return len(self.originals) - 1

    def _leaf(
        self,
        part: Message,
        content_type: str,
        origin: tuple[str, ...],
        original: int | None,
        depth: int,
        root: bool,
    ) -> None:
        data = _payload(part)
        filename = part_filename(part)
        if content_type in PKCS7_TYPES or (filename or "").lower().endswith(".p7m"):
            self._pkcs7(data, filename, origin, original, depth)
            return
        # The HTML root of a multipart/related is the body shown, even when it has a name.
        is_body = content_type in ("text/plain", "text/html") and (filename is None or root)
        if is_body and _disposition(part) != "attachment":
            body = decode_bytes(data, _charset(part)).replace("\r\n", "\n")
            if content_type == "text/html":
                self.htmls.append((origin.count(_RFC822), body))
                self.html_scopes.append(original)
                return
            self.texts.append((origin.count(_RFC822), body))
            for uu in uuencoded_files(body):
                self.route(uu.data, uu.filename, OCTET_STREAM, origin, None, 0, original)
            return
        if not data:
            return
        content_id = header_text(part, "content-id")
        cid = normalise_cid(content_id) or None
        self.route(data, filename, content_type, origin, cid, 0, original)

    def _pkcs7(
        self,
        data: bytes,
        filename: str | None,
        origin: tuple[str, ...],
        original: int | None,
        depth: int,
    ) -> None:
        """Opaque signed S/MIME holds the mail's real parts: read them where the blob was."""
        label = safe_filename(filename, default="smime.p7m")
        try:
            found = read_pkcs7(data)
        except BerError:
            self.skip(f"{label}: S/MIME data unreadable, not opened")
            return
        if found.kind == "encrypted":
            self.encrypted = True
            self.skip(f"{label}: encrypted S/MIME, cannot be read without the recipient's key")
            return
        if found.kind != "signed" or not found.content:
            self.skip(f"{label}: S/MIME data without content, not opened")
            return
        try:
            inner = parse_bytes(found.content, self.policy)
        except Exception as error:
            self.skip(f"{label}: signed content unreadable: {type(error).__name__}")
            return
        self.visit(inner, origin, depth + 1, original)

    def route(
        self,
        data: bytes,
        filename: str | None,
        declared: str,
        origin: tuple[str, ...],
        content_id: str | None,
        zip_depth: int,
        original: int | None = None,
    ) -> None:
        sniffed = sniff_content_type(data, filename)
        if sniffed == TNEF:
            label = safe_filename(filename, default="winmail.dat")
            members, defects = unpack_tnef(data, name=label, budget=self.budget)
        elif sniffed == OUTLOOK_MSG or (sniffed == OLE2 and looks_like_msg(data)):
            label = safe_filename(filename, default="message.msg")
            if zip_depth >= self.budget.limits.max_depth:
                self.skip(f"{label}: Outlook message nested too deep, not unpacked")
                return
            members, defects = unpack_msg(data, name=label, budget=self.budget)
            zip_depth += 1
        elif sniffed == ZIP:
            label = safe_filename(filename, default="archive.zip")
            if zip_depth >= self.budget.limits.max_depth:
                self.skip(f"{label}: zip nested too deep, not unpacked")
                return
            members, defects = unpack_zip(data, name=label, budget=self.budget)
            zip_depth += 1
        elif (declared == _RFC822 or (filename or "").lower().endswith(".eml")) and not (
            is_document_type(sniffed)
        ):
            self._forwarded(data, origin)
            return
        else:
            name = safe_filename(filename, default=f"document{extension_for(sniffed)}")
            if "." not in name[-6:] and is_document_type(sniffed):
                name += extension_for(sniffed)  # "scan" from a copier, yet a PDF
            found = Attachment(name, sniffed, declared, data, origin, original)
            self.found.append(_Found(found, content_id, filename is not None, original))
            return
        for defect in defects:
            self.skip(defect)  # an archive's defects are all files left unread
        for member in members:
            guessed = sniff_content_type(b"", member.path)  # what the name alone claims
            nested = (*origin, label)
            self.route(member.data, member.path, guessed, nested, None, zip_depth, original)

    def _forwarded(self, data: bytes, origin: tuple[str, ...]) -> None:
        if origin.count(_RFC822) >= MAX_FORWARD_NESTING:
            self.skip(f"forwarded more than {MAX_FORWARD_NESTING} levels deep, skipped")
            return
        try:
            inner = parse_bytes(data, self.policy)
        except Exception as error:
            self.skip(f"forwarded message unreadable: {type(error).__name__}")
            return
        self.visit(inner, (*origin, _RFC822), 0, self._original(data))


def _related_root(part: Message, payload: list[Message | str]) -> int:
    """The index of a multipart/related's root: the part its `start` names, else the first."""
    try:
        start = part.get_param("start")
    except Exception:
        start = None
    if isinstance(start, str) and normalise_cid(start):
        wanted = normalise_cid(start)
        for index, sub in enumerate(payload):
            if isinstance(sub, Message) and normalise_cid(header_text(sub, "content-id")) == wanted:
                return index
    return 0


def _encoded_message(part: Message, payload: list[Message | str]) -> bytes | None:
    """Return the bytes of a message/rfc822 part that was (wrongly) base64 or QP encoded.

    The parser reads such a part's encoded text as if it were a message; undo that.
    """
    encoding = header_text(part, "content-transfer-encoding").lower()
    if encoding not in ("base64", "quoted-printable") or not isinstance(payload[0], Message):
        return None
    try:
        text = payload[0].as_bytes(policy=policy.compat32)
        if encoding == "base64":
            return binascii.a2b_base64(b"".join(text.split()))
        return quopri.decodestring(text)
    except Exception:
        return None


def _message_bytes(inner: Message) -> bytes | None:
    """A forwarded mail's bytes as sent, for its DKIM signature to be checked.

    compat32 writes headers back as they were read (no refolding), which is what a
    signature's relaxed canonicalisation needs; a policy that refolds would break it.
    """
    try:
        return inner.as_bytes(policy=policy.compat32.clone(linesep="\r\n"))
    except Exception:
        return None


def _safe_get(msg: Message, name: str) -> object:
    try:
        return msg.get(name)
    except Exception:
        return None


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return OCTET_STREAM


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""
