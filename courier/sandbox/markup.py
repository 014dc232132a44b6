"""Formatted text and keyboards, checked the way Telegram checks them.

HTML is parsed into plain text and entities (offsets in UTF-16 code units), with
Telegram's own refusals: an unsupported tag, an unclosed tag, a stray `<`. MarkdownV2
refuses a reserved character left unescaped. Inline buttons need exactly one action, and
callback data is 1 to 64 bytes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from courier.sandbox.params import ApiError, bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64

TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MARKDOWN_RESERVED = set("_*[]()~`>#+-=|{}.!")
TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^>]*)?)>")
ATTR_RE = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(slots=True)
class _Open:
    name: str
    start: int
    attrs: dict[str, str]


def _entity(open_tag: _Open, end: int) -> dict[str, Any] | None:
    if end == open_tag.start:
        return None
    kind = TAGS[open_tag.name]
    entity: dict[str, Any] = {
        "type": kind,
        "offset": open_tag.start,
        "length": end - open_tag.start,
    }
    if kind == "text_link":
        entity["url"] = open_tag.attrs.get("href", "")
    if open_tag.name == "blockquote" and "expandable" in open_tag.attrs:
        entity["type"] = "expandable_blockquote"
    return entity


def _cannot(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    plain: list[str] = []
    length = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            offset = len(text[:i].encode())
            match = TAG_RE.match(text, i)
            if match is None:
                raise _cannot(f"Unsupported start tag at byte offset {offset}")
            closing, name = match.group(1) == "/", match.group(2).lower()
            if closing:
                if not stack:
                    raise _cannot(f"Unexpected end tag at byte offset {offset}")
                if stack[-1].name != name:
                    raise _cannot(
                        f"Unmatched end tag at byte offset {offset}, "
                        f'expected "</{stack[-1].name}>", found "</{name}>"'
                    )
                if entity := _entity(stack.pop(), length):
                    entities.append(entity)
            else:
                if name not in TAGS:
                    raise _cannot(f'Unsupported start tag "{name}" at byte offset {offset}')
                attrs = {
                    m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
                    for m in ATTR_RE.finditer(match.group(3))
                }
                if "expandable" in match.group(3).split():
                    attrs["expandable"] = ""
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise _cannot(
                        f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                    )
                stack.append(_Open(name, length, attrs))
            i = match.end()
            continue
        if char == "&":
            semi = text.find(";", i, i + 10)
            name = text[i + 1 : semi] if semi != -1 else ""
            value = NAMED.get(name)
            if value is None and name.startswith("#"):
                digits = name[2:] if name[1:2] in ("x", "X") else name[1:]
                base = 16 if name[1:2] in ("x", "X") else 10
                try:
                    value = chr(int(digits, base))
                except ValueError:
                    value = None
            if value is not None:
                plain.append(value)
                length += utf16_len(value)
                i = semi + 1
                continue
        plain.append(char)
        length += utf16_len(char)
        i += 1
    if stack:
        raise _cannot(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return "".join(plain), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def parse_markdown_v2(text: str) -> str:
    """Plain text of a MarkdownV2 text, refusing reserved characters left unescaped."""
    plain: list[str] = []
    in_code = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            plain.append(text[i + 1])
            i += 2
            continue
        if char == "`":
            in_code = not in_code
        elif in_code:
            plain.append(char)
        elif char in "*_~|[]()":
            pass  # markup; link targets and entity nesting are not modelled
        elif char == ">" and (i == 0 or text[i - 1] == "\n"):
            pass  # a block quote
        elif char in MARKDOWN_RESERVED:
            raise _cannot(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            plain.append(char)
        i += 1
    return "".join(plain)


def formatted(
    text: str, parse_mode: str | None, *, limit: int, what: str = "message text"
) -> tuple[str, list[dict[str, Any]]]:
    """The text as the user will see it, and its entities."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, entities = parse_html(text)
    elif mode == "markdownv2":
        plain, entities = parse_markdown_v2(text), []
    elif mode in ("", "markdown"):
        plain, entities = text, []
    else:
        raise bad_request("unsupported parse_mode")
    if not plain.strip():
        raise bad_request(f"{what} is empty")
    if utf16_len(plain) > limit:
        raise bad_request(
            "message is too long" if what == "message text" else "message caption is too long"
        )
    return plain, entities


def inline_keyboard(markup: Any) -> list[list[dict[str, Any]]] | None:
    """The inline keyboard of a reply_markup, validated; None for the other markups."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    checked: list[list[dict[str, Any]]] = []
    for row in rows:
        buttons: list[dict[str, Any]] = []
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [key for key in BUTTON_ACTIONS if key in button]
            if len(actions) != 1:
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button and not str(button["url"]).startswith(
                ("http://", "https://", "tg://")
            ):
                raise bad_request("BUTTON_URL_INVALID")
            buttons.append(dict(button))
        if buttons:
            checked.append(buttons)
    return checked


def reply_keyboard(markup: Any) -> list[list[str]] | bool | None:
    """A reply keyboard's labels; False to remove the keyboard; None to leave it."""
    if not isinstance(markup, dict):
        return None
    if markup.get("remove_keyboard"):
        return False
    rows = markup.get("keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list):
        raise bad_request("can't parse reply keyboard markup JSON object")
    labels: list[list[str]] = []
    for row in rows:
        if not isinstance(row, list):
            raise bad_request("can't parse reply keyboard markup JSON object")
        labels.append([b if isinstance(b, str) else str(b.get("text", "")) for b in row])
    return labels
