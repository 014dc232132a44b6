"""Errors raised by the document-reading engine, each with a machine `reason` key."""

from __future__ import annotations


class ExtractionError(Exception):
    """A document could not be read; `reason` is a stable key for logs and user messages."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class UnsafeXml(ExtractionError):
    """The XML holds a DTD, entity declaration or external reference; it was not expanded."""
