"""Find the links in a mail that download an invoice, for senders who send no attachment.

Suppliers such as telecoms and SaaS tools mail "Your invoice is ready" with a button.
A link counts when its text, its address or the words just before a bare URL in the
text speak of an invoice, a receipt, a bill or a download, in French or English.
"""

from __future__ import annotations

import html
import re

from mail.parse.html_text import HtmlReading

MAX_LINKS = 20

_INVOICE_WORDS = re.compile(
    r"factur|invoice|t[ée]l[ée]charg|download|receipt|re[çc]u\b|\bbill|credit[-_ ]?note",
    re.IGNORECASE,
)
# Such links are in every newsletter and never lead to a document.
_NOISE_WORDS = re.compile(
    r"unsubscribe|d[ée]sabonn|d[ée]sinscri|preferences|pr[ée]f[ée]rences|privacy|"
    r"confidentialit|app\s?store|google\s?play|play\.google|apps\.apple",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_BEFORE_URL_CHARS = 80


def invoice_links(text: str, readings: tuple[HtmlReading, ...]) -> tuple[str, ...]:
    """Return the download links found in the HTML anchors and the plain text, in order."""
    found: list[str] = []
    for reading in readings:
        for href, label in reading.anchors:
            url = _clean(href)
            if url and _is_invoice_link(url, label):
                found.append(url)
    for match in _URL.finditer(text):
        url = _clean(match.group(0))
        before = _words_before(text, match.start())
        if url and _is_invoice_link(url, before):
            found.append(url)
    return tuple(dict.fromkeys(found))[:MAX_LINKS]


def all_urls(text: str, html_body: str | None) -> tuple[str, ...]:
    """Return every http(s) URL in the text and the HTML, in order, without duplicates."""
    found = [_clean(match.group(0)) for match in _URL.finditer(text)]
    if html_body:
        found += [_clean(html.unescape(match.group(0))) for match in _URL.finditer(html_body)]
    return tuple(dict.fromkeys(url for url in found if url))


def _words_before(text: str, start: int) -> str:
    """The words leading to a bare URL: its line, or the line above when it starts one."""
    lines = text[max(0, start - _BEFORE_URL_CHARS) : start].split("\n")
    if len(lines) > 1 and not lines[-1].strip():
        return lines[-2]
    return lines[-1]


def _is_invoice_link(url: str, words: str) -> bool:
    if _NOISE_WORDS.search(url) or _NOISE_WORDS.search(words):
        return False
    return bool(_INVOICE_WORDS.search(words) or _INVOICE_WORDS.search(url))


def _clean(url: str) -> str:
    url = url.strip().rstrip(".,;:!?")
    return url if url.lower().startswith(("http://", "https://")) else ""
