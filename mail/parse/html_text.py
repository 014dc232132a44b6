"""Read an HTML mail body: its text, the cid: images it shows and the links it holds.

A small tokenizer of our own, not html.parser: the stdlib's parser takes quadratic time
on unclosed markup (CPython gh-135462, fixed only in 3.11.13, and more such reports
since), and 30 KB of "<a <a <a" kept it busy for seconds here. Every pattern below stops
at the next "<", so the work stays linear in the size of the body. The text keeps line
breaks where blocks end, so that "Code : 482913" stays on one line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import unquote

# Beyond this the body is a newsletter or an attack; its start says enough.
MAX_HTML_CHARS = 2_000_000
# Attributes longer than this are not a link or an image worth reading.
_MAX_ATTRIBUTES_CHARS = 8_192

_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript"})
_BLOCKS = frozenset(
    {
        "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5",
        "h6", "blockquote", "pre", "hr", "section", "article", "header", "footer", "center",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)([^<>]*)>")
_DECLARATION = re.compile(r"<[!?][^<>]*>")
# A quote left open runs to the end of the tag instead of being retried at every "=".
_ATTRIBUTE = re.compile(r"""([A-Za-z_:][\w:.-]*)\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s"'>]+))""")
_CID = re.compile(r"cid:([^\s\"'()<>]+)", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class HtmlReading:
    """What an HTML body says: its text, the Content-IDs it shows, its (href, text) anchors."""

    text: str
    cids: frozenset[str]
    anchors: tuple[tuple[str, str], ...]


def read_html(body: str) -> HtmlReading:
    """Return the text, cid: references and anchors of an HTML body; never raises."""
    body = body[:MAX_HTML_CHARS]
    cids = frozenset(normalise_cid(match.group(1)) for match in _CID.finditer(body))
    reader = _Reader()
    markup = _DECLARATION.sub("", _without_comments(body))
    position = 0
    for tag in _TAG.finditer(markup):
        reader.data(markup[position : tag.start()])
        reader.tag(tag.group(2).lower(), closing=bool(tag.group(1)), attributes=tag.group(3))
        position = tag.end()
    reader.data(markup[position:])
    return HtmlReading(text=reader.text(), cids=cids, anchors=tuple(reader.anchors))


def normalise_cid(value: str) -> str:
    """Return a Content-ID in the form an HTML cid: URL uses: no brackets, lower case."""
    return unquote(value.strip().removeprefix("cid:").strip().strip("<>")).lower()


def _without_comments(body: str) -> str:
    pieces: list[str] = []
    position = 0
    while (start := body.find("<!--", position)) >= 0:
        pieces.append(body[position:start])
        end = body.find("-->", start + 4)
        if end < 0:
            return "".join(pieces)  # an unclosed comment runs to the end, as in browsers
        position = end + 3
    pieces.append(body[position:])
    return "".join(pieces)


def _attributes(text: str) -> dict[str, str]:
    if len(text) > _MAX_ATTRIBUTES_CHARS:
        return {}
    return {
        match.group(1).lower(): html.unescape(next(g for g in match.groups()[1:] if g is not None))
        for match in _ATTRIBUTE.finditer(text)
    }


class _Reader:
    """Collects text and anchors from the tokens, skipping what no reader sees."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.anchors: list[tuple[str, str]] = []
        self._skipping: list[str] = []
        self._href: str | None = None
        self._anchor_text: list[str] = []

    def data(self, raw: str) -> None:
        if not raw or self._skipping:
            return
        text = html.unescape(raw)
        self.pieces.append(text)
        if self._href is not None:
            self._anchor_text.append(text)

    def tag(self, name: str, *, closing: bool, attributes: str) -> None:
        if name == "body":
            self._skipping.clear()  # a <head> left open ends where the body starts
        elif name in _SKIPPED:
            if closing and name in self._skipping:
                del self._skipping[self._skipping.index(name) :]
            elif not closing and not attributes.rstrip().endswith("/"):
                self._skipping.append(name)
            return
        if name == "a":
            self._flush_anchor()
            if not closing:
                self._href = _attributes(attributes).get("href") or None
        elif name == "img" and self._href is not None and not self._skipping:
            self._anchor_text.append(_attributes(attributes).get("alt", ""))
        if name in _BLOCKS:
            self.pieces.append("\n")
        elif name in _CELLS and not closing:
            self.pieces.append("\t")

    def _flush_anchor(self) -> None:
        if self._href is not None:
            self.anchors.append((self._href.strip(), " ".join(" ".join(self._anchor_text).split())))
        self._href = None
        self._anchor_text = []

    def text(self) -> str:
        self._flush_anchor()
        lines = "".join(self.pieces).split("\n")
        joined = "\n".join(" ".join(line.replace("\t", " ").split()) for line in lines)
        return _BLANK_LINES.sub("\n\n", joined).strip()
