"""`courier run` and the single roles: the long-running commands, which alone load the bot,
the mail gateway and the scheduler.

Those parts are imported only once the start-up checks have passed: a port already taken
is said at once, not after a second or more of imports."""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.config import Settings
from core.db.migrate import head_revision
from core.services.workspaces import list_workspaces
from courier.output import invocation
from courier.runtime import open_runtime
from courier.startup import BUILT, MISSING, check_startup


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Everything in one process on the embedded defaults, until Ctrl-C or SIGTERM."""
    roles = BUILT + (("demo",) if settings.demo_supplier else ())
    # Before anything is opened: a second `courier run` says why it cannot, and touches nothing.
    check_startup(settings, roles)
    from courier.roles import serve, startup_notes, stop_on_signals

    async with open_runtime(settings, refresh_catalog=True) as rt:
        suppliers = rt.suppliers
        async with rt.db.read() as session:
            workspaces = await list_workspaces(session=session)
        print(f"Courier is set up in {settings.data_dir}/")
        print(f"  database   {settings.safe_db_url()} (schema {head_revision()})")
        print(f"  documents  {settings.documents_dir}/")
        print(f"  catalog    {suppliers} suppliers")
        print(f"  workspaces {len(workspaces)}")
        if not workspaces:
            print(f'Next: {invocation()} workspace create "My Business"')
        for note in startup_notes(settings):
            print(f"  {note}")
        stop = asyncio.Event()
        stop_on_signals(stop)
        await serve(rt, roles, stop)
    print("Courier stopped.")
    return 0


async def role(args: argparse.Namespace, settings: Settings) -> int:
    """One role alone, as docker-compose runs them."""
    if args.command in MISSING:
        print(f"courier {args.command}: {MISSING[args.command]}", file=sys.stderr)
        return 1
    check_startup(settings, (args.command,))
    from courier.roles import serve, stop_on_signals

    async with open_runtime(settings) as rt:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await serve(rt, (args.command,), stop)
    return 0
