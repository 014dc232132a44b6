"""`courier sandbox`: the whole of Courier on loopback, behind a Telegram chat in the
terminal. The Bot API stand-in plays Telegram; the bot, the mail gateway, the scheduler
and the Demo Supplier run as `courier run` runs them, on a data dir of their own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlmodel import select

from core.config import Settings
from core.errors import CourierError
from core.models import Locale, Member, Role, Workspace, WorkspaceCreate
from core.services.members import create_invite
from core.services.workspaces import create_workspace, inbox_address
from courier.roles import serve, stop_on_signals
from courier.runtime import Runtime, open_runtime
from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.limits import RateLimits
from courier.sandbox.terminal import LEGEND, Terminal, read_lines

#: Not a real token: the stand-in knows it, Telegram does not.
SANDBOX_TOKEN = "1000000001:SANDBOX-local-only-not-a-telegram-token"
BOT_USERNAME = "courier_sandbox_bot"
#: The person at the terminal; the same id on every run, so they stay a member.
PERSON_ID = 100_001
WORKSPACE_SLUG = "demo"  # the Demo Supplier mails its codes to demo@<mail domain>


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sandbox_settings(settings: Settings, *, data_dir: Path, api_url: str) -> Settings:
    """Courier's settings pointed at the stand-in, on a data dir and ports of their own."""
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": None,
            "storage_dir": None,
            "secret_key": None,
            "telegram_token": SecretStr(SANDBOX_TOKEN),
            "telegram_api_url": api_url,
            "telegram_webhook_url": None,
            "smtp_host": "127.0.0.1",
            "smtp_port": free_port(),
            "demo_supplier_port": free_port(),
        }
    )


@dataclass(frozen=True, slots=True)
class Arrival:
    """What the person at the terminal finds: the sandbox's workspace, an owner's invite
    code unless they are a member already, and the language it spoke before this run
    when `--language` changed it."""

    workspace: Workspace
    code: str | None
    was: Locale | None = None


async def invite_person(rt: Runtime, *, language: str | None) -> Arrival:
    """The sandbox's workspace (made on the first run, in `language` or English), speaking
    `language` when one is asked for: the workspace's locale wins over the person's, so a
    sandbox made in English would otherwise stay English whatever `--language` says."""
    ttl = timedelta(hours=rt.settings.invite_ttl_hours)
    async with rt.db.transaction() as session:
        workspace = (
            await session.exec(select(Workspace).where(Workspace.slug == WORKSPACE_SLUG))
        ).first()
        if workspace is None:
            locale = Locale(language or Locale.EN)
            data = WorkspaceCreate(name="Sandbox", slug=WORKSPACE_SLUG, locale=locale)
            workspace, invite = await create_workspace(session=session, data=data, invite_ttl=ttl)
            return Arrival(workspace, invite.code)
        was = None
        if language is not None and workspace.locale != language:
            was, workspace.locale = Locale(workspace.locale), Locale(language)
        member = (
            await session.exec(
                select(Member).where(
                    Member.workspace_id == workspace.id, Member.telegram_user_id == PERSON_ID
                )
            )
        ).first()
        if member is not None:
            return Arrival(workspace, None, was)
        invite = await create_invite(session=session, workspace=workspace, role=Role.OWNER, ttl=ttl)
        return Arrival(workspace, invite.code, was)


async def sandbox(args: argparse.Namespace, settings: Settings) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir / "sandbox"
    if not args.verbose:
        # The chat is the interface: the parts' INFO logs would drown it.
        logging.getLogger().setLevel(logging.WARNING)
    try:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    except OSError as err:
        print(f"courier sandbox: cannot use {data_dir}: {err.strerror or err}", file=sys.stderr)
        return 1
    api = BotApi(limits=RateLimits() if args.limits else None)
    world = api.add_bot(SANDBOX_TOKEN, username=BOT_USERNAME, first_name="Courier")
    await api.start()
    try:
        local = sandbox_settings(settings, data_dir=data_dir, api_url=api.url)
        async with open_runtime(local, refresh_catalog=True) as rt:
            arrival = await invite_person(rt, language=args.language)
            workspace, code = arrival.workspace, arrival.code
            print("Courier sandbox: a local Telegram, no account and no token needed.")
            print(f"  data       {data_dir}/")
            print(f"  telegram   @{BOT_USERNAME} on a local Bot API at {api.url}")
            address = inbox_address(workspace, local.mail_domain)
            print(f"  workspace  {workspace.name}, mail to {address}")
            switched = f" (was {arrival.was}, switched by --language)" if arrival.was else ""
            print(f"  language   {workspace.locale}{switched}")
            stop = asyncio.Event()
            stop_on_signals(stop)
            person = TelegramUser.create(
                world,
                first_name=os.environ.get("USER", "You").capitalize() or "You",
                language_code=args.language or workspace.locale,
                user_id=PERSON_ID,
            )
            terminal = Terminal(person, downloads=data_dir / "downloads")
            running = asyncio.create_task(serve(rt, ("mail", "scheduler", "demo", "bot"), stop))
            # A part that fails to start (a port taken) ends the sandbox, with its error.
            running.add_done_callback(lambda _: stop.set())
            print(LEGEND)
            if code:
                print(f"Join with:  /start {code}")
            else:
                print("You are a member already: say /start, or /help.")
            sys.stdout.flush()
            showing = asyncio.create_task(terminal.show(stop))
            lines = read_lines(asyncio.get_running_loop(), sys.stdin)
            await terminal.converse(lines, stop)
            stop.set()
            failure = await _outcome(running)
            showing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await showing
    finally:
        await api.close()
    if failure is not None:
        print(f"courier sandbox: {failure}", file=sys.stderr)
        return 1
    print("Sandbox stopped.")
    return 0


async def _outcome(running: asyncio.Task[None]) -> str | None:
    """How the parts ended: None when asked to stop; else one line on what failed (a
    CourierError goes on to the command line, which words it)."""
    failed: BaseException | None = None
    try:
        await running
    except* CourierError as group:
        raise group.exceptions[0] from None
    except* Exception as group:
        failed = group.exceptions[0]
    if failed is None:
        return None
    logging.getLogger(__name__).debug("a part of the sandbox failed", exc_info=failed)
    return f"a part failed to run: {type(failed).__name__}: {failed}"
