"""Running Courier's long-lived roles in one event loop until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import timedelta
from typing import Any

from core.config import Settings
from core.errors import ConfigInvalid
from core.extraction.sandbox import shutdown_sandbox
from core.jobs.loop import work_until
from core.services.fetch import ConnectionRunner
from core.suppliers.http import Throttle
from core.suppliers.woob.setup import WoobSetup
from courier.connectors import build_registry, build_sign_ins, google_ads_config
from courier.demo_supplier import DemoConfig, sample_config, start_demo_supplier
from courier.heap import settle_heap
from courier.integration_commands import build_accounting
from courier.oauth_callback import start_callback_server
from courier.output import with_invocation
from courier.runtime import Runtime
from courier.startup import (
    MISSING,
    TelegramUnreachable,
    bind_failure,
    binding,
    demo_listener,
    oauth_listener,
    smtp_listener,
    unwrap,
    webhook_listener,
)
from mail.authentication import DnspythonResolver
from mail.imap import ImapConnector, poll_due_mailboxes
from mail.imap.schedule import POLL_FAST
from mail.links import link_fetcher
from mail.smtp import GatewayHandler, SessionCap, start_gateway
from mail.worker import MailWorker
from scheduler.accounting_jobs import AccountingJobs
from scheduler.app import build_scheduler
from scheduler.digest_jobs import DigestJobs
from scheduler.jobs import Jobs

log = logging.getLogger(__name__)

#: The roles `courier run` starts, and the ones still to be built.
#: Telegram's Bot API, when COURIER_TELEGRAM_API_URL does not name another.
TELEGRAM_API = "https://api.telegram.org"


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)


async def serve_mail(
    rt: Runtime, stop: asyncio.Event, announce: Callable[[str], None] = print
) -> None:
    """The SMTP gateway and the worker that reads what it accepts."""
    sessions = SessionCap(
        limit=rt.settings.smtp_max_sessions, per_ip=rt.settings.smtp_max_sessions_per_ip
    )
    accounting = build_accounting(rt)  # the auto-publish hook for what mail files
    worker = MailWorker(
        db=rt.db,
        store=rt.store,
        vault=rt.vault,
        lease=timedelta(seconds=rt.settings.mail_lease_seconds),
        resolver=DnspythonResolver() if rt.settings.mail_authentication else None,
        receiver=rt.settings.greeting_hostname,
        busy=lambda: sessions.active > 0,
        on_filed=AccountingJobs(accounting).document_ready,
        links=link_fetcher(rt.settings),
    )
    handler = GatewayHandler(
        db=rt.db,
        store=rt.store,
        mail_domain=rt.settings.mail_domain,
        on_accepted=worker.wake,
        quota_bytes=rt.settings.mail_quota_bytes,
    )
    with binding(smtp_listener(rt.settings)):
        gateway = await start_gateway(rt.settings, handler, sessions=sessions)
    announce(
        f"mail: SMTP gateway on {rt.settings.smtp_host}:{gateway.port}, "
        f"receiving for *@{rt.settings.mail_domain}"
    )
    work = asyncio.create_task(worker.run(stop), name="mail-worker")
    polling = asyncio.create_task(poll_mailboxes(rt, worker, stop), name="imap-poller")
    try:
        await stop.wait()
    finally:
        await gateway.close()
        await asyncio.gather(work, polling)


async def poll_mailboxes(rt: Runtime, worker: MailWorker, stop: asyncio.Event) -> None:
    """Watched mailboxes, polled when due. The tick is POLL_FAST, so a mailbox awaiting a
    2FA code is read every few seconds; the others wait their normal interval."""

    async def step() -> bool:
        await poll_due_mailboxes(
            db=rt.db,
            store=rt.store,
            vault=rt.vault,
            wake=worker.wake,
            connect=ImapConnector(allow_private=rt.settings.mailbox_allow_private),
        )
        return False  # each mailbox falls due by the clock: the next look is a tick away

    await work_until(stop, step, name="IMAP polling", idle_seconds=POLL_FAST.total_seconds())


def build_runner(rt: Runtime) -> ConnectionRunner:
    """The connectors and the runner that drives one connection's fetch."""
    settings = rt.settings
    throttle = Throttle(
        overall=settings.fetch_concurrency * 2,
        per_supplier=settings.supplier_concurrency,
        rate=settings.supplier_rate,
    )
    registry = build_registry(
        demo_url=f"http://127.0.0.1:{settings.demo_supplier_port}",
        throttle=throttle,
        pool=rt.supplier_http,
        google_ads=google_ads_config(settings),
        woob=WoobSetup(settings.woob_home),
    )
    return ConnectionRunner(
        db=rt.db,
        store=rt.store,
        vault=rt.vault,
        connector_for=registry.connector_for,
        gives=registry.gives,
    )


async def serve_scheduler(
    rt: Runtime, stop: asyncio.Event, announce: Callable[[str], None] = print
) -> None:
    """The periodic jobs: due connections fetched, stale 2FA challenges expired."""
    settings = rt.settings
    runner = build_runner(rt)
    jobs = Jobs(
        db=rt.db,
        runner=runner,
        concurrency=settings.fetch_concurrency,
        lease=timedelta(seconds=settings.scheduler_lease_seconds),
        store=rt.store,
    )
    accounting = build_accounting(rt)
    scheduler = build_scheduler(
        jobs,
        fetch_tick_seconds=rt.settings.scheduler_tick_seconds,
        accounting=AccountingJobs(accounting),
        digests=DigestJobs(db=rt.db),
    )
    scheduler.start()
    connectors = build_registry(woob=WoobSetup(settings.woob_home)).keys()
    announce(
        f"scheduler: {len(connectors)} connectors, fetching due connections, reading new documents"
    )
    try:
        await stop.wait()
    finally:
        await scheduler.stop()
        await jobs.drain()
        shutdown_sandbox()


async def serve_oauth(
    rt: Runtime, stop: asyncio.Event, announce: Callable[[str], None] = print
) -> None:
    """The OAuth2 callback for Xero, QuickBooks, Pennylane and Google
    Ads, served once one of them is
    configured."""
    settings = rt.settings
    if not settings.oauth_apps:
        announce(
            "oauth: no Xero, QuickBooks, Pennylane or Google Ads client id set,"
            " so no callback to serve"
        )
        return
    with binding(oauth_listener(settings)):
        callback = await start_callback_server(
            build_accounting(rt),
            host=settings.oauth_callback_host,
            port=settings.oauth_callback_port,
            bot_username=settings.telegram_bot_username,
            sign_ins=build_sign_ins(google_ads_config(settings)),
        )
    announce(f"oauth: callback on {callback.url}, registered as {settings.oauth_callback_url}")
    try:
        await stop.wait()
    finally:
        await callback.close()


#: What `courier run` says when no token is set: the rest runs, the bot does not.
BOT_OFF = (
    "bot: off (COURIER_TELEGRAM_TOKEN is not set); `courier sandbox` tries every chat "
    "flow locally, with no Telegram account"
)


def startup_notes(settings: Settings) -> list[str]:
    """What `courier run` does not run, and why."""
    notes = [f"not yet: {what}" for what in MISSING.values()]
    if settings.telegram_token is None:
        notes.append(with_invocation(BOT_OFF))
    return notes


async def serve_bot(
    rt: Runtime, stop: asyncio.Event, announce: Callable[[str], None] = print
) -> None:
    """The Telegram bot: long polling, or a webhook when COURIER_TELEGRAM_WEBHOOK_URL is set.
    Without a token `courier run` goes on without it and says so."""
    if rt.settings.telegram_token is None:
        await stop.wait()  # startup_notes said so
        return
    # Imported here: the bot's modules load aiogram, which the other roles do not need.
    from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

    from bot.serve import serve_telegram

    settings = rt.settings
    try:
        await serve_telegram(
            settings=settings,
            db=rt.db,
            store=rt.store,
            vault=rt.vault,
            runner=build_runner(rt),
            providers=rt.providers,
            sign_ins=build_sign_ins(google_ads_config(settings)),
            stop=stop,
            announce=announce,
        )
    # Polling retries what fails once it runs: these come from the first calls, at start
    # (or a token revoked meanwhile), and stop Courier like any setting that cannot work.
    except TelegramUnauthorizedError:
        raise ConfigInvalid(
            setting="COURIER_TELEGRAM_TOKEN",
            reason="Telegram refuses this token; copy it again from @BotFather",
        ) from None
    except TelegramNetworkError:
        # Its message is not repeated: it may quote the request, and the token is in its URL.
        raise TelegramUnreachable(url=settings.telegram_api_url or TELEGRAM_API) from None
    except OSError as err:
        # The webhook's listener, bound after the first calls to Telegram succeeded.
        if err.errno != errno.EADDRINUSE or not settings.telegram_webhook_url:
            raise
        raise bind_failure(webhook_listener(settings), err) from None


def demo_config(settings: Settings) -> DemoConfig:
    """The Demo Supplier's sample accounts; the one with emailed codes mails them to
    `demo@<mail domain>` through Courier's own gateway, so the relay can be seen."""
    base = sample_config(smtp_port=settings.smtp_port)
    accounts = tuple(
        replace(account, email=f"demo@{settings.mail_domain}")
        if account.two_factor == "email"
        else account
        for account in base.accounts
    )
    return replace(base, accounts=accounts, smtp=replace(base.smtp, host=settings.smtp_host))


async def serve_demo(
    rt: Runtime, stop: asyncio.Event, announce: Callable[[str], None] = print
) -> None:
    with binding(demo_listener(rt.settings)):
        demo = await start_demo_supplier(
            demo_config(rt.settings), port=rt.settings.demo_supplier_port
        )
    announce(
        f"demo: Demo Supplier at {demo.url}"
        " (logins demo@, sms@, app@, mail@example.com; password demo);"
        f" its SMS codes show on the demo phone at {demo.url}/phone"
    )
    try:
        await stop.wait()
    finally:
        await demo.close()


async def serve(rt: Runtime, roles: tuple[str, ...], stop: asyncio.Event) -> None:
    runners: dict[str, Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, None]]] = {
        "mail": serve_mail,
        "scheduler": serve_scheduler,
        "demo": serve_demo,
        "oauth": serve_oauth,
        "bot": serve_bot,
    }
    if roles == ("bot",) and rt.settings.telegram_token is None:
        raise ConfigInvalid(
            setting="COURIER_TELEGRAM_TOKEN",
            reason=with_invocation("not set: get one from @BotFather, or try `courier sandbox`"),
        )
    settle_heap()  # built: what exists now lives as long as the process
    try:
        async with asyncio.TaskGroup() as group:
            for role in roles:
                group.create_task(runners[role](rt, stop), name=role)
    except BaseExceptionGroup as stopped:
        # A part that could not start (a port taken since it was tried) stops the others;
        # what stopped it is one line for the person, not a group of tracebacks.
        failure = unwrap(stopped)
        if failure is None:
            raise
        raise failure from None
