"""A Telegram chat in the terminal: the bot's messages printed as they come (edits and
deletions too), inline buttons as numbered choices, files sent by path.

    /send PATH [caption]   send a file, as Telegram's paperclip does
    /photo PATH            send a picture as a photo
    /reply TEXT            reply to the bot's last message (how a 2FA code is given)
    /say TEXT              send TEXT as it is, even a number
    /quit                  leave (Ctrl-D too)
    N                      press button [N] of the latest message with buttons

Anything else goes to the bot as typed, commands included (/start, /connect, /help…).
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from courier.sandbox.chat import BotMessage, TelegramUser, snapshot

LEGEND = (
    "Type a message and press Enter. Buttons show as [1], [2]…: type the number to press one.\n"
    "  /send PATH [caption]  send a file       /photo PATH  send a picture as a photo\n"
    "  /reply TEXT           reply to the bot  /say TEXT    send TEXT as typed\n"
    "  /quit                 leave"
)


def read_lines(loop: asyncio.AbstractEventLoop, stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines of `stream` as they are typed; None at the end. A daemon thread reads them,
    so a blocked read never holds the process at exit."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="sandbox-stdin", daemon=True).start()
    return queue


class Terminal:
    def __init__(
        self, user: TelegramUser, *, downloads: Path, out: Callable[[str], None] | None = None
    ) -> None:
        self.user = user
        self.downloads = downloads
        self._out = out or self._print
        self._shown = 0
        self.choices: list[tuple[int, str]] = []

    @staticmethod
    def _print(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    # -- what the bot does ----------------------------------------------------------------

    async def show(self, stop: asyncio.Event) -> None:
        """Print the chat's events as they happen, until `stop`."""
        chat = self.user.chat
        while not stop.is_set():
            changed = chat.changed()
            while self._shown < len(chat.events):
                event = chat.events[self._shown]
                self._shown += 1
                message = chat.messages.get(event.message_id)
                if event.kind == "sent" and message is not None:
                    await self._print_message(snapshot(message), "bot")
                elif event.kind == "edited" and message is not None:
                    await self._print_message(snapshot(message), "bot (edited)")
                elif event.kind == "deleted" and message is not None:
                    whose = "its" if message.from_bot else "your"
                    self._out(f"(the bot deleted {whose} message #{event.message_id})")
                elif event.kind == "answered" and event.text:
                    self._out(f"bot ({'alert' if event.show_alert else 'notice'}): {event.text}")
            waiting = {asyncio.ensure_future(changed.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()

    async def _print_message(self, message: BotMessage, who: str) -> None:
        lines = message.text.splitlines() or [""]
        self._out(f"{who} #{message.message_id}: {lines[0]}")
        for line in lines[1:]:
            self._out(f"    {line}")
        for sent in (message.document, message.photo):
            if sent is not None:
                path = await self._save(sent.file_name or f"{sent.file_id[:12]}.jpg", sent.data)
                self._out(f"    (file: {path.name}, {len(sent.data)} bytes, saved to {path})")
        if message.buttons:
            self.choices = [(message.message_id, label) for label in message.labels]
            for number, (_, label) in enumerate(self.choices, start=1):
                self._out(f"    [{number}] {label}")

    async def _save(self, name: str, data: bytes) -> Path:
        safe = Path(name).name or "file"
        path = self.downloads / safe
        await asyncio.to_thread(self.downloads.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, data)
        return path

    # -- what the person does -------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Act on one typed line; False when the person leaves."""
        text = line.strip()
        if not text:
            return True
        word, _, rest = text.partition(" ")
        if word == "/quit":
            return False
        if word == "/say":
            await self.user.say(rest)
        elif word == "/reply":
            await self._reply(rest)
        elif word in ("/send", "/photo"):
            await self._send_file(word, rest)
        elif text.isdigit() and 1 <= int(text) <= len(self.choices):
            await self._press(int(text))
        else:
            await self.user.say(text)
        return True

    async def _reply(self, text: str) -> None:
        last = self.user.messages[-1:] if self.user.messages else []
        if not last:
            self._out("(nothing to reply to yet)")
            return
        await self.user.say(text, reply_to=last[0])

    async def _press(self, number: int) -> None:
        message_id, label = self.choices[number - 1]
        try:
            await self.user.press(label, message=message_id)
        except LookupError:
            self._out(f"(button [{number}] is no longer there)")

    async def _send_file(self, word: str, rest: str) -> None:
        try:
            parts = shlex.split(rest)
        except ValueError:
            parts = rest.split()
        if not parts:
            self._out(f"(usage: {word} PATH)")
            return
        path = await asyncio.to_thread(Path(parts[0]).expanduser)
        caption = " ".join(parts[1:]) or None
        if not await asyncio.to_thread(path.is_file):
            self._out(f"(no such file: {path})")
            return
        try:
            if word == "/photo":
                await self.user.send_photo(path, caption=caption)
            else:
                await self.user.upload(path, caption=caption)
        except ValueError as err:
            self._out(f"({err})")

    async def converse(self, lines: asyncio.Queue[str | None], stop: asyncio.Event) -> None:
        """Take typed lines until the person leaves or `stop`."""
        while not stop.is_set():
            getting = asyncio.ensure_future(lines.get())
            stopping = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
                stopping.cancel()
                return
            stopping.cancel()
            line = getting.result()
            if line is None or not await self.handle(line):
                stop.set()
                return
