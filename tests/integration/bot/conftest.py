"""Courier's real bot (dispatcher, middlewares, routers, database storage) polling the
Bot API stand-in, over the real database (SQLite and PostgreSQL), with the Demo Supplier
to connect to. Tests drive it as Telegram users: they type, press and upload."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import SecretStr
from sqlmodel import select

from bot.app import build_bot, build_dispatcher, run_polling
from bot.context import Deps
from bot.serve import build_deps
from bot.verification import Verifier
from core.accounting.registry import ProviderRegistry
from core.catalog.entries import load_entries
from core.config import Settings
from core.db import Database
from core.models import (
    Connection,
    ConnectionCreate,
    Locale,
    Role,
    Supplier,
    Workspace,
    WorkspaceCreate,
)
from core.permissions import OPERATOR
from core.services.accounting import Accounting, make_accounting
from core.services.catalog import sync_catalog
from core.services.connections import create_connection
from core.services.fetch import ConnectionRunner, FetchPolicy
from core.services.members import create_invite, find_member
from core.services.workspaces import create_workspace
from core.storage import LocalDocumentStore
from core.vault import Vault, generate_key
from courier.connectors import build_registry, build_sign_ins, google_ads_config
from courier.demo_supplier import RunningDemo, sample_config, start_demo_supplier
from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import BotMessage, TelegramUser
from courier.sandbox.world import BotWorld, PendingCallback
from tests.conftest import make_settings

TOKEN = "4242424242:AAF-courier-bot-test-token-0123456789"
T = TypeVar("T")


@dataclass
class Harness:
    api: BotApi
    world: BotWorld
    db: Database
    vault: Vault
    store: LocalDocumentStore
    demo: RunningDemo
    verifier: Verifier
    settings: Settings
    #: The bot's provider registry: one for the process, as courier/runtime.py builds it.
    providers: ProviderRegistry

    def accounting(self) -> Accounting:
        """The accounting services over the bot's own parts and provider registry: what a
        chat action uses, for a story to link books without the chat."""
        return make_accounting(
            providers=self.providers,
            settings=self.settings,
            db=self.db,
            vault=self.vault,
            store=self.store,
        )

    async def workspace(self, name: str, *, locale: Locale = Locale.EN) -> tuple[Workspace, str]:
        """A workspace and its owner's invite code."""
        async with self.db.transaction() as session:
            workspace, invite = await create_workspace(
                session=session,
                data=WorkspaceCreate(name=name, locale=locale),
                invite_ttl=timedelta(hours=1),
            )
        return workspace, invite.code

    async def invite(self, workspace: Workspace, role: Role = Role.MEMBER) -> str:
        async with self.db.transaction() as session:
            invite = await create_invite(
                session=session, workspace=workspace, role=role, ttl=timedelta(hours=1)
            )
        return invite.code

    def user(self, first_name: str = "Marie", *, language_code: str = "en") -> TelegramUser:
        return TelegramUser.create(self.world, first_name=first_name, language_code=language_code)

    async def member(
        self, first_name: str, code: str, *, language_code: str = "en"
    ) -> TelegramUser:
        """A person who joined with `code`; their welcome is read."""
        person = self.user(first_name, language_code=language_code)
        await person.say(f"/start {code}")
        await person.wait_for_reply()
        return person

    def forge_press(self, person: TelegramUser, data: str, on: BotMessage) -> str:
        """A button press with data no button of this chat carries (a forged client)."""
        query_id = str(secrets.randbits(63))
        self.world.callbacks[query_id] = PendingCallback(
            id=query_id,
            user_id=person.id,
            chat_id=person.id,
            message_id=on.message_id,
            data=data,
            created=time.monotonic(),
        )
        stored = person.chat.messages[on.message_id]
        self.world.push_update(
            "callback_query",
            {
                "id": query_id,
                "from": person.chat.user.as_user(),
                "message": self.world.message_json(stored),
                "chat_instance": str(person.id),
                "data": data,
            },
        )
        return query_id


def free_port() -> int:
    """A loopback port nothing listens on now, for a server that binds it itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def stand_in(username: str) -> AsyncIterator[tuple[BotApi, BotWorld]]:
    """The Bot API stand-in on loopback, with one bot registered in it."""
    api = BotApi()
    await api.start()
    try:
        yield api, api.add_bot(TOKEN, username=username)
    finally:
        await api.close()


def webhook_settings(folder: Path, api_url: str, port: int, **more: object) -> Settings:
    """Settings for a bot served by webhook on loopback `port`, the Bot API at `api_url`."""
    return make_settings(
        folder / "var",
        telegram_api_url=api_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}",
        telegram_webhook_secret="s3cret-hook_token",
        telegram_webhook_port=port,
        **more,
    )


@asynccontextmanager
async def plain_deps(db: Database, settings: Settings, folder: Path) -> AsyncIterator[Deps]:
    """The bot's dependencies with the shipped connectors and no stand-ins behind them: for
    stories about the bot's own plumbing (webhook, stopping)."""
    vault, store = Vault([generate_key()]), LocalDocumentStore(folder / "documents")
    runner = ConnectionRunner(
        db=db, store=store, vault=vault, connector_for=build_registry().connector_for
    )
    providers = ProviderRegistry(settings)
    deps, verifier = await build_deps(
        settings=settings, db=db, store=store, vault=vault, runner=runner, providers=providers
    )
    try:
        yield deps
    finally:
        await verifier.close()
        await providers.aclose()


@pytest.fixture
def harness_settings() -> dict[str, object]:
    """Settings a test module gives its bot: override this fixture there."""
    return {}


@pytest.fixture
async def harness(
    db: Database, tmp_path: Path, harness_settings: dict[str, object]
) -> AsyncIterator[Harness]:
    api = BotApi()
    await api.start()
    world = api.add_bot(TOKEN, username="courier_test_bot")
    demo = await start_demo_supplier(sample_config())
    settings = make_settings(
        tmp_path / "var",
        telegram_token=TOKEN,
        telegram_api_url=api.url,
        mail_domain="in.example.com",
        **harness_settings,
    )
    async with db.transaction() as session:
        # The Demo Supplier and a few dozen others: enough to search, quick to load.
        entries = load_entries()
        # EDF's two portals: a supplier with no connector, whose mail route is known.
        chosen = {e.key: e for e in entries[:40]} | {
            e.key: e
            for e in entries
            if e.key in ("demo-supplier", "edf", "edf-entreprises", "google-ads")
        }
        await sync_catalog(session=session, entries=chosen.values())
    vault = Vault([generate_key()])
    store = LocalDocumentStore(tmp_path / "documents")
    google_ads = google_ads_config(settings)  # a stand-in's, where a module's settings say
    registry = build_registry(demo_url=demo.url, google_ads=google_ads)
    runner = ConnectionRunner(
        db=db,
        store=store,
        vault=vault,
        connector_for=registry.connector_for,
        policy=FetchPolicy(code_poll=0.05),
    )
    providers = ProviderRegistry(settings)
    deps, verifier = await build_deps(
        settings=settings,
        db=db,
        store=store,
        vault=vault,
        runner=runner,
        providers=providers,
        sign_ins=build_sign_ins(google_ads),
    )
    bot = build_bot(settings)
    dp = build_dispatcher(deps)
    stop = asyncio.Event()
    polling = asyncio.create_task(run_polling(bot, dp, stop))
    try:
        yield Harness(api, world, db, vault, store, demo, verifier, settings, providers)
    finally:
        stop.set()
        await polling
        # Runs a story left in flight finish; one still waiting for a code (a failed story)
        # is stopped rather than held for its challenge's ten minutes.
        try:
            await asyncio.wait_for(verifier.drain(), timeout=30)
        except TimeoutError:
            await verifier.close()
        await bot.session.close()
        await providers.aclose()
        await demo.close()
        await api.close()


async def add_connection(
    harness: Harness, workspace: Workspace, person: TelegramUser, *, login: str
) -> Connection:
    """A Demo Supplier account connected by `person`, set up without the chat."""
    async with harness.db.transaction() as session:
        supplier = (
            await session.exec(select(Supplier).where(Supplier.key == "demo-supplier"))
        ).one()
        assert workspace.id is not None
        owner = await find_member(
            session=session, workspace_id=workspace.id, telegram_user_id=person.id
        )
        assert owner is not None
        assert owner.id is not None
        assert supplier.id is not None
        return await create_connection(
            session=session,
            vault=harness.vault,
            data=ConnectionCreate(
                workspace_id=workspace.id,
                supplier_id=supplier.id,
                owner_member_id=owner.id,
                login=login,
                password=SecretStr("demo"),
            ),
            by=OPERATOR,
        )


async def press(person: TelegramUser, label: str, *, message: BotMessage | None = None) -> str:
    """Press a button and read the bot's answer to it (the toast; "" when silent)."""
    await person.press(label, message=message)
    return (await person.wait_for_answer()).text
