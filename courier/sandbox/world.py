"""The stand-in's memory of one bot: its simulated users and their private chats, the
messages on both sides, the files, the callback queries and the queue of updates.

Everything lives in one event loop, so no locks: a change wakes whoever waits on it (a
long poll, a webhook sender, a simulated user waiting for a reply) through `changed()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

#: What a bot receives when it does not choose (Telegram leaves these three out).
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def now_epoch() -> int:
    return int(time.time())


@dataclass(slots=True)
class SimUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked_bot: bool = False

    def as_user(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if (value := getattr(self, key)) is not None:
                user[key] = value
        return user

    def as_chat(self) -> JSON:
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        for key in ("last_name", "username"):
            if (value := getattr(self, key)) is not None:
                chat[key] = value
        return chat


@dataclass(slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0

    def as_document(self) -> JSON:
        document: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        return document

    def as_photo(self) -> list[JSON]:
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "file_size": len(self.data),
                "width": self.width,
                "height": self.height,
            }
        ]


@dataclass(slots=True)
class StoredMessage:
    message_id: int
    chat_id: int
    from_bot: bool
    date: int
    text: str | None = None
    entities: list[JSON] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSON] = field(default_factory=list)
    document: StoredFile | None = None
    photo: StoredFile | None = None
    inline_keyboard: list[list[JSON]] | None = None
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """Something the user can see happen in the chat."""

    kind: str  # "sent", "edited", "deleted", "answered", "keyboard"
    message_id: int = 0
    text: str = ""
    show_alert: bool = False


@dataclass(slots=True)
class PrivateChat:
    user: SimUser
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    events: list[ChatEvent] = field(default_factory=list)
    #: The reply keyboard shown under the input field, if any (button labels).
    reply_keyboard: list[list[str]] | None = None
    force_reply: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: Set at this chat's next event: a user waits on its own chat, not on every chat.
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def changed(self) -> asyncio.Event:
        return self._changed

    def notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def new_message_id(self) -> int:
        return next(self._ids)


@dataclass(slots=True)
class PendingCallback:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float
    answered: bool = False


@dataclass(slots=True)
class Webhook:
    url: str
    secret_token: str | None = None
    allowed_updates: frozenset[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


class BotWorld:
    """One bot as Telegram's servers know it, keyed by its token."""

    def __init__(self, token: str, *, username: str, first_name: str) -> None:
        bot_id, _, _ = token.partition(":")
        self.token = token
        self.bot: JSON = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, PrivateChat] = {}
        self.files: dict[str, StoredFile] = {}
        self.callbacks: dict[str, PendingCallback] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.updates: deque[tuple[int, str, JSON]] = deque()
        self.allowed_updates: frozenset[str] | None = None
        self.webhook: Webhook | None = None
        self.poll_generation = 0
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Event()

    @property
    def username(self) -> str:
        return str(self.bot["username"])

    def changed(self) -> asyncio.Event:
        """An event set at the next change; take it before checking, then wait on it."""
        return self._changed

    def notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def add_user(self, user: SimUser) -> PrivateChat:
        self.users[user.id] = user
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = PrivateChat(user=user)
        return chat

    def accepts(self, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in OPT_IN_UPDATES

    def push_update(self, kind: str, payload: JSON) -> int | None:
        """Queue an update for the bot; a kind it did not ask for is never stored."""
        if not self.accepts(kind):
            return None
        update_id = next(self._update_ids)
        self.updates.append((update_id, kind, payload))
        self.notify()
        return update_id

    def confirm_below(self, offset: int) -> None:
        while self.updates and self.updates[0][0] < offset:
            self.updates.popleft()

    def store_file(
        self,
        data: bytes,
        *,
        folder: str,
        file_name: str | None,
        mime_type: str | None,
        size: tuple[int, int] = (0, 0),
    ) -> StoredFile:
        number = next(self._file_ids)
        extension = ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1][:8]
        stored = StoredFile(
            file_id=f"{folder[:2].upper()}AC{number}_{secrets.token_urlsafe(24)}",
            # Telegram gives one file the same unique id every time it meets it.
            file_unique_id="AgAD" + hashlib.sha256(data).hexdigest()[:16],
            data=data,
            file_path=f"{folder}/file_{number}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=size[0],
            height=size[1],
        )
        self.files[stored.file_id] = stored
        return stored

    def record(self, chat: PrivateChat, event: ChatEvent) -> None:
        chat.events.append(event)
        chat.notify()
        self.notify()

    def message_json(self, message: StoredMessage, *, with_reply: bool = True) -> JSON:
        chat = self.chats[message.chat_id]
        sender = self.bot if message.from_bot else chat.user.as_user()
        result: JSON = {
            "message_id": message.message_id,
            "from": {
                k: v
                for k, v in sender.items()
                if k in ("id", "is_bot", "first_name", "last_name", "username", "language_code")
            },
            "chat": chat.user.as_chat(),
            "date": message.date,
        }
        if message.edit_date is not None:
            result["edit_date"] = message.edit_date
        if message.text is not None:
            result["text"] = message.text
            if message.entities:
                result["entities"] = message.entities
        if message.document is not None:
            result["document"] = message.document.as_document()
        if message.photo is not None:
            result["photo"] = message.photo.as_photo()
        if message.caption is not None:
            result["caption"] = message.caption
            if message.caption_entities:
                result["caption_entities"] = message.caption_entities
        if message.inline_keyboard is not None:
            result["reply_markup"] = {"inline_keyboard": message.inline_keyboard}
        if with_reply and message.reply_to_message_id is not None:
            replied = chat.messages.get(message.reply_to_message_id)
            if replied is not None and not replied.deleted:
                result["reply_to_message"] = self.message_json(replied, with_reply=False)
        return result
