"""The terminal chat of `courier sandbox`: what it prints, and what a typed line does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiogram import Bot
from aiogram.types import BufferedInputFile
from aiogram.utils.keyboard import InlineKeyboardBuilder

from courier.sandbox.chat import TelegramUser
from courier.sandbox.terminal import Terminal
from courier.sandbox.world import BotWorld


async def test_buttons_are_numbered_and_a_code_is_still_text(
    bot: Bot, world: BotWorld, tmp_path: Path
) -> None:
    person = TelegramUser.create(world)
    printed: list[str] = []
    both_shown = asyncio.Event()

    def out(line: str) -> None:
        printed.append(line)
        if len(printed) >= 6:
            both_shown.set()

    terminal = Terminal(person, downloads=tmp_path / "downloads", out=out)
    stop = asyncio.Event()
    showing = asyncio.create_task(terminal.show(stop))
    keyboard = InlineKeyboardBuilder()
    keyboard.button(text="Sync now", callback_data="ca:fetch:3")
    keyboard.button(text="Reconnect", callback_data="ca:reconnect:3")
    sent = await bot.send_message(
        person.id, "EDF needs you.\nPress one.", reply_markup=keyboard.as_markup()
    )
    await bot.send_document(person.id, BufferedInputFile(b"%PDF-1.7", filename="f.pdf"))
    await asyncio.wait_for(both_shown.wait(), timeout=20)

    assert await terminal.handle("2")
    assert await terminal.handle("123456")
    assert await terminal.handle("/send /no/such/file.pdf")
    assert not await terminal.handle("/quit")
    stop.set()
    await showing

    assert printed[:4] == [
        f"bot #{sent.message_id}: EDF needs you.",
        "    Press one.",
        "    [1] Sync now",
        "    [2] Reconnect",
    ]
    assert printed[5] == f"    (file: f.pdf, 8 bytes, saved to {tmp_path / 'downloads' / 'f.pdf'})"
    assert (tmp_path / "downloads" / "f.pdf").read_bytes() == b"%PDF-1.7"
    assert "(no such file: /no/such/file.pdf)" in printed
    kinds = [
        (kind, payload.get("data") or payload.get("text")) for _, kind, payload in world.updates
    ]
    assert kinds == [("callback_query", "ca:reconnect:3"), ("message", "123456")]
