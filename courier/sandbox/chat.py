"""A simulated Telegram user, to drive a bot through the stand-in the way a person would:
type, reply, press inline buttons, send files, and read what the bot says.

    marie = TelegramUser.create(world, first_name="Marie", language_code="fr")
    await marie.say(f"/start {code}")
    welcome = await marie.wait_for_reply()
    await marie.press("Sync now")
    done = await marie.wait_for_edit()
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from courier.sandbox.markup import utf16_len
from courier.sandbox.media import image_size, scaled
from courier.sandbox.world import (
    BotWorld,
    ChatEvent,
    PendingCallback,
    PrivateChat,
    SimUser,
    StoredFile,
    StoredMessage,
    now_epoch,
)

T = TypeVar("T")
_user_ids = itertools.count(700_000_001)

#: How long a simulated person waits for the bot: long enough for a CI machine busy with
#: other work (a passing story never waits it out), short enough to fail a silent bot.
WAIT = 20.0


class NoReply(AssertionError):
    """The bot did not do what was awaited in time; the message shows the chat so far."""


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SentFile:
    file_id: str
    file_name: str | None
    mime_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class BotMessage:
    """A message of the bot as the user sees it now."""

    message_id: int
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    document: SentFile | None = None
    photo: SentFile | None = None
    reply_to_message_id: int | None = None
    edited: bool = False
    deleted: bool = False

    @property
    def labels(self) -> list[str]:
        return [button.text for row in self.buttons for button in row]

    def button(self, label: str) -> Button:
        for row in self.buttons:
            for button in row:
                if button.text == label:
                    return button
        raise LookupError(f"no button {label!r} under {self.text!r}; buttons: {self.labels}")


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a button press: a toast, or an alert the user must dismiss."""

    text: str
    show_alert: bool


def _sent_file(stored: StoredFile | None) -> SentFile | None:
    if stored is None:
        return None
    return SentFile(stored.file_id, stored.file_name, stored.mime_type, stored.data)


def snapshot(message: StoredMessage) -> BotMessage:
    buttons = tuple(
        tuple(Button(b["text"], b.get("callback_data"), b.get("url")) for b in row)
        for row in message.inline_keyboard or []
    )
    return BotMessage(
        message_id=message.message_id,
        text=message.text if message.text is not None else message.caption or "",
        buttons=buttons,
        document=_sent_file(message.document),
        photo=_sent_file(message.photo),
        reply_to_message_id=message.reply_to_message_id,
        edited=message.edit_date is not None,
        deleted=message.deleted,
    )


class TelegramUser:
    def __init__(self, world: BotWorld, chat: PrivateChat) -> None:
        self.world = world
        self.chat = chat
        self._cursors = {kind: len(chat.events) for kind in ("sent", "edited", "answered")}

    @classmethod
    def create(
        cls,
        world: BotWorld,
        *,
        first_name: str = "Marie",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
    ) -> TelegramUser:
        user = SimUser(
            id=user_id if user_id is not None else next(_user_ids),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        return cls(world, world.add_user(user))

    @property
    def id(self) -> int:
        return self.chat.user.id

    # -- what the user does ---------------------------------------------------------------

    def _post(self, message: StoredMessage) -> int:
        self.chat.messages[message.message_id] = message
        self.world.push_update("message", self.world.message_json(message))
        return message.message_id

    def _new_message(self, reply_to: BotMessage | int | None = None) -> StoredMessage:
        replied = reply_to.message_id if isinstance(reply_to, BotMessage) else reply_to
        return StoredMessage(
            message_id=self.chat.new_message_id(),
            chat_id=self.id,
            from_bot=False,
            date=now_epoch(),
            reply_to_message_id=replied,
        )

    async def say(self, text: str, *, reply_to: BotMessage | int | None = None) -> int:
        """Type a message (a command when it starts with "/"); returns its message id."""
        message = self._new_message(reply_to)
        message.text = text
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message.entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        return self._post(message)

    async def reply(self, to: BotMessage | int, text: str) -> int:
        return await self.say(text, reply_to=to)

    async def press(self, label: str, *, message: BotMessage | int | None = None) -> str:
        """Press the inline button with this label, on `message` or else on the newest
        message that shows one; returns the callback query's id."""
        stored = self._message_with_button(label, message)
        button = snapshot(stored).button(label)
        if button.callback_data is None:
            raise LookupError(f"button {label!r} opens {button.url!r}; it sends nothing to the bot")
        query_id = str(secrets.randbits(63))
        self.world.callbacks[query_id] = PendingCallback(
            id=query_id,
            user_id=self.id,
            chat_id=self.id,
            message_id=stored.message_id,
            data=button.callback_data,
            created=time.monotonic(),
        )
        self.world.push_update(
            "callback_query",
            {
                "id": query_id,
                "from": self.chat.user.as_user(),
                "message": self.world.message_json(stored),
                "chat_instance": str(self.id * 7919 % 2**62),
                "data": button.callback_data,
            },
        )
        return query_id

    def _message_with_button(self, label: str, message: BotMessage | int | None) -> StoredMessage:
        if message is not None:
            message_id = message.message_id if isinstance(message, BotMessage) else message
            stored = self.chat.messages.get(message_id)
            if stored is None or stored.deleted:
                raise LookupError(f"message {message_id} is not in the chat")
            return stored
        for stored in reversed(self.chat.messages.values()):
            if stored.from_bot and not stored.deleted and label in snapshot(stored).labels:
                return stored
        raise LookupError(f"no message shows a button {label!r}\n{self.transcript()}")

    async def upload(
        self,
        file: bytes | Path,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> int:
        """Send a file as a document (the paperclip, "File")."""
        data = await asyncio.to_thread(file.read_bytes) if isinstance(file, Path) else file
        name = filename or (file.name if isinstance(file, Path) else "file")
        mime = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        stored = self.world.store_file(data, folder="documents", file_name=name, mime_type=mime)
        message = self._new_message()
        message.document, message.caption = stored, caption
        return self._post(message)

    async def send_photo(self, file: bytes | Path, *, caption: str | None = None) -> int:
        """Send a picture as a photo: Telegram recompresses it and drops the file name."""
        data = await asyncio.to_thread(file.read_bytes) if isinstance(file, Path) else file
        size = image_size(data)
        if size is None:
            raise ValueError("a photo must be a PNG, JPEG, GIF or WebP image")
        stored = self.world.store_file(
            data, folder="photos", file_name=None, mime_type=None, size=scaled(size)
        )
        message = self._new_message()
        message.photo, message.caption = stored, caption
        return self._post(message)

    def block(self) -> None:
        """Block the bot: its messages to this user fail with 403 from now on."""
        self.chat.user.blocked_bot = True

    def unblock(self) -> None:
        self.chat.user.blocked_bot = False

    # -- what the user sees ---------------------------------------------------------------

    @property
    def messages(self) -> list[BotMessage]:
        """The bot's messages still in the chat, oldest first, as they look now."""
        return [snapshot(m) for m in self.chat.messages.values() if m.from_bot and not m.deleted]

    def message(self, message_id: int) -> BotMessage:
        return snapshot(self.chat.messages[message_id])

    def was_deleted(self, message_id: int) -> bool:
        """Whether a message (the user's own included) was removed from the chat."""
        return self.chat.messages[message_id].deleted

    @property
    def keyboard(self) -> list[list[str]] | None:
        return self.chat.reply_keyboard

    def transcript(self) -> str:
        lines = []
        for m in self.chat.messages.values():
            who = "bot" if m.from_bot else "user"
            text = m.text if m.text is not None else f"[file] {m.caption or ''}"
            gone = " (deleted)" if m.deleted else ""
            buttons = snapshot(m).labels
            lines.append(
                f"  {who} #{m.message_id}{gone}: {text}" + (f" {buttons}" if buttons else "")
            )
        return "chat so far:\n" + ("\n".join(lines) or "  (empty)")

    async def _wait(self, find: Callable[[], T | None], within: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            changed = self.chat.changed()
            found = find()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NoReply(f"no {what} within {within} s\n{self.transcript()}")
            try:
                await asyncio.wait_for(changed.wait(), timeout=remaining)
            except TimeoutError:
                continue

    def _next_event(self, kind: str) -> ChatEvent | None:
        events = self.chat.events
        for index in range(self._cursors[kind], len(events)):
            if events[index].kind == kind:
                self._cursors[kind] = index + 1
                return events[index]
        return None

    async def wait_for_reply(self, within: float = WAIT) -> BotMessage:
        """The next message the bot sends in this chat (as it looks when it arrives)."""
        event = await self._wait(lambda: self._next_event("sent"), within, "reply")
        return snapshot(self.chat.messages[event.message_id])

    async def wait_for_edit(self, within: float = WAIT) -> BotMessage:
        """The next edit the bot makes to one of its messages."""
        event = await self._wait(lambda: self._next_event("edited"), within, "edit")
        return snapshot(self.chat.messages[event.message_id])

    async def wait_for_answer(self, within: float = WAIT) -> Answer:
        """The bot's answer to the next button press (the toast or alert)."""
        event = await self._wait(lambda: self._next_event("answered"), within, "answer")
        return Answer(event.text, event.show_alert)

    async def wait_for_deletion(self, message_id: int, within: float = WAIT) -> None:
        await self._wait(
            lambda: True if self.chat.messages[message_id].deleted else None,
            within,
            f"deletion of message {message_id}",
        )
