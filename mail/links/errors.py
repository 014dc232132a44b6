"""Why a link was not downloaded: one key per reason, kept with the message."""

from __future__ import annotations

from typing import Literal

Reason = Literal[
    "not_https",
    "host_not_listed",
    "address_refused",
    "unreachable",
    "too_many_redirects",
    "http_status",
    "too_large",
    "too_slow",
    "not_a_document",
    "no_pdf_link",
    "too_many_links",
]


class LinkRefused(Exception):
    """A link that was not (or could not safely be) downloaded, and why."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason
