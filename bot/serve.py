"""The bot as one of Courier's roles: its parts wired from the runtime, then polling or
a webhook until asked to stop, and the runs it started drained."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.app import build_bot, build_dispatcher, publish_commands, run_polling, run_webhook
from bot.context import Deps
from bot.notifier import Notifier
from bot.verification import Verifier
from core.accounting.registry import ProviderRegistry
from core.config import Settings
from core.db import Database
from core.flows.manager import Flows
from core.flows.registry import FLOWS
from core.services.catalog import load_search
from core.services.fetch import ConnectionRunner
from core.storage import DocumentStore
from core.suppliers.oauth import SupplierSignIns
from core.vault import Vault
from mail.imap.check import ImapCheck

log = logging.getLogger(__name__)


async def build_deps(
    *,
    settings: Settings,
    db: Database,
    store: DocumentStore,
    vault: Vault,
    runner: ConnectionRunner,
    providers: ProviderRegistry,
    sign_ins: SupplierSignIns | None = None,
) -> tuple[Deps, Verifier]:
    """The bot's parts; the supplier search is loaded once per process, and the provider
    registry is the process's own (built and closed by courier/runtime.py)."""
    async with db.read() as session:
        search = await load_search(session=session)
    verifier = Verifier(db=db, runner=runner)
    services = {
        # For work a flow starts after its step committed, in its own transactions.
        "db": db,
        "settings": settings,
        "store": store,
        "vault": vault,
        "search": search,
        "runs": verifier,
        "providers": providers,
        # Suppliers signed in to by the owner's consent: the consent address, not a password.
        "sign_ins": sign_ins or SupplierSignIns(),
        "mailbox_check": ImapCheck(allow_private=settings.mailbox_allow_private),
    }
    flows = Flows(FLOWS, services)
    deps = Deps(
        settings=settings,
        db=db,
        store=store,
        vault=vault,
        search=search,
        runs=verifier,
        providers=providers,
        flows=flows,
    )
    return deps, verifier


async def serve_telegram(
    *,
    settings: Settings,
    db: Database,
    store: DocumentStore,
    vault: Vault,
    runner: ConnectionRunner,
    providers: ProviderRegistry,
    stop: asyncio.Event,
    sign_ins: SupplierSignIns | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    deps, verifier = await build_deps(
        settings=settings,
        db=db,
        store=store,
        vault=vault,
        runner=runner,
        providers=providers,
        sign_ins=sign_ins,
    )
    rt = deps
    bot = build_bot(rt.settings)
    dp = build_dispatcher(deps)
    # The outbox is delivered by every bot process; claims keep them from sending twice.
    delivering = asyncio.create_task(Notifier(bot=bot, db=db).run(stop), name="notifier")
    try:
        me = await bot.get_me()
        await publish_commands(bot)
        mode = "webhook" if rt.settings.telegram_webhook_url else "long polling"
        announce(f"bot: @{me.username} by {mode}")
        if rt.settings.telegram_webhook_url:
            await run_webhook(bot, dp, rt.settings, stop)
        else:
            await run_polling(bot, dp, stop)
    finally:
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)
        await verifier.close()
        await bot.session.close()
