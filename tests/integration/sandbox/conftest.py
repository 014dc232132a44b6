"""The Bot API stand-in on a loopback port, and aiogram's real client pointed at it."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from courier.sandbox.botapi import BotApi
from courier.sandbox.world import BotWorld

TOKEN = "4242424242:AAF-sandbox-token-0123456789abcdefgh"


@pytest.fixture
async def api() -> AsyncIterator[BotApi]:
    server = BotApi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def world(api: BotApi) -> BotWorld:
    return api.add_bot(TOKEN, username="courier_test_bot")


def client(api: BotApi, token: str = TOKEN) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
    return Bot(token, session=session)


@pytest.fixture
async def bot(api: BotApi, world: BotWorld) -> AsyncIterator[Bot]:
    telegram = client(api)
    yield telegram
    await telegram.session.close()


def png(width: int = 64, height: int = 48) -> bytes:
    """A real (grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
