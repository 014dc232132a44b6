"""The billing hosts Courier downloads invoices from, and how each one serves its PDF.

The list is data (billing_hosts.json, shipped with the package): adding a vendor is an
entry, not code. A link counts only when its host and path match an entry; everything
else stays a link the person opens.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal
from urllib.parse import urlsplit

How = Literal["file", "page", "rewrite"]


@dataclass(frozen=True, slots=True)
class BillingHost:
    vendor: str
    host: str
    path: re.Pattern[str]
    how: How
    #: For "page": the URL on the page that is the PDF.
    pdf_link: re.Pattern[str] | None = None
    #: For "rewrite": the path's pattern and the PDF's URL made from its groups.
    pattern: re.Pattern[str] | None = None
    to: str | None = None

    def serves(self, host: str, path: str) -> bool:
        if self.host.startswith("*."):
            suffix = self.host[1:]
            on_host = host.endswith(suffix) and len(host) > len(suffix)
        else:
            on_host = host == self.host
        return on_host and self.path.search(path) is not None

    def rewritten(self, url: str) -> str | None:
        """The PDF's URL for a "rewrite" host's link, its query kept."""
        assert self.pattern is not None
        assert self.to is not None
        parts = urlsplit(url)
        match = self.pattern.search(parts.path)
        if match is None:
            return None
        target = match.expand(self.to)
        return f"{target}?{parts.query}" if parts.query else target


@dataclass(frozen=True, slots=True)
class BillingHosts:
    entries: tuple[BillingHost, ...]

    def find(self, url: str) -> BillingHost | None:
        """The entry that serves `url`, or None: https only, no user part, default port."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        host = (parts.hostname or "").rstrip(".").lower()
        if parts.scheme.lower() != "https" or parts.username or parts.password:
            return None
        if port not in (None, 443):
            return None
        return next((e for e in self.entries if e.serves(host, parts.path or "/")), None)


def _compiled(value: object) -> re.Pattern[str] | None:
    return re.compile(value) if isinstance(value, str) else None


def parse_hosts(text: str) -> BillingHosts:
    entries = []
    for raw in json.loads(text)["hosts"]:
        how = raw["how"]
        if how not in ("file", "page", "rewrite"):
            raise ValueError(f"unknown way to reach a PDF: {how!r}")
        entry = BillingHost(
            vendor=raw["vendor"],
            host=raw["host"].lower(),
            path=re.compile(raw["path"]),
            how=how,
            pdf_link=_compiled(raw.get("pdf_link")),
            pattern=_compiled(raw.get("pattern")),
            to=raw.get("to"),
        )
        if (how == "page") != (entry.pdf_link is not None) or (how == "rewrite") != (
            entry.pattern is not None and entry.to is not None
        ):
            raise ValueError(f"{entry.host}: {how!r} needs its own fields and no others")
        entries.append(entry)
    return BillingHosts(tuple(entries))


@cache
def billing_hosts() -> BillingHosts:
    """The shipped list, read once."""
    return parse_hosts(files("mail.links").joinpath("billing_hosts.json").read_text("utf-8"))
