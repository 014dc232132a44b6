"""Read inbound mail without I/O: headers, text, invoice files and links, OTPs aside.

`parse_message` never raises; `document_attachments` keeps the invoice candidates;
`forwarding_confirmation` spots a provider asking to confirm a forwarding address.
"""

from __future__ import annotations

from mail.parse.archives import ArchiveLimits
from mail.parse.forwarding import forwarding_confirmation
from mail.parse.mime import document_attachments, parse_message
from mail.parse.model import Attachment, ForwardingConfirmation, ParsedMessage

__all__ = [
    "ArchiveLimits",
    "Attachment",
    "ForwardingConfirmation",
    "ParsedMessage",
    "document_attachments",
    "forwarding_confirmation",
    "parse_message",
]
