"""The values that parsing an inbound mail produces: the message, its files, its links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

#: Why an image is decoration rather than a document (see mail/parse/logos.py).
DecorationReason = Literal["shown_in_html", "tracking_pixel", "unnamed"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file found in a mail, wherever it was nested.

    `content_type` comes from the bytes; `declared_type` is what the sender's mailer
    claimed, kept for the record. `origin` names the containers it was found in, from
    the outside in: ("message/rfc822", "winmail.dat") is a file of a TNEF attachment
    inside a forwarded mail; () is a file attached to the mail itself. `original` is the
    index in `ParsedMessage.originals` of the innermost forwarded mail holding it.
    """

    filename: str
    content_type: str
    declared_type: str
    data: bytes
    origin: tuple[str, ...] = ()
    original: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class SetAside:
    """An image kept out of the inbox as decoration, and why; the user may still keep it."""

    attachment: Attachment
    reason: DecorationReason


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What Courier reads of an inbound mail. `defects` records what was malformed.

    `originals` are the forwarded mails (message/rfc822) it holds, as bytes, so that a
    supplier's signature on one can be checked; `skipped` says what was not read, and why.
    `set_aside` holds the images taken for decoration; `encrypted` says an S/MIME part
    was encrypted, so what it holds could not be read.
    """

    message_id: str
    subject: str
    from_address: str
    from_domain: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    links: tuple[str, ...]
    defects: tuple[str, ...]
    originals: tuple[bytes, ...] = ()
    skipped: tuple[str, ...] = ()
    set_aside: tuple[SetAside, ...] = ()
    encrypted: bool = False


@dataclass(frozen=True, slots=True)
class ForwardingConfirmation:
    """A mail provider asking the forwarding address to confirm a forwarding rule.

    `requested_by` is the mailbox that wants to forward to Courier, when the mail says.
    """

    provider: Literal["gmail", "microsoft", "yahoo", "other"]
    code: str | None
    link: str | None
    requested_by: str | None
