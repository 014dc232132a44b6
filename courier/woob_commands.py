"""`courier woob install`: woob's own virtualenv, for the community connectors."""

from __future__ import annotations

import argparse
import asyncio

from core.config import Settings
from core.errors import CourierError
from core.suppliers.woob.modules import COMMUNITY
from core.suppliers.woob.setup import WOOB_REQUIREMENT, WoobInstallFailed, WoobSetup
from courier.output import emit_result
from courier.runtime import open_runtime


class WoobInstallError(CourierError):
    key = "woob_install_failed"
    exit_code = 1


async def woob_install(args: argparse.Namespace, settings: Settings) -> int:
    setup = WoobSetup(settings.woob_home)
    try:
        # pip takes a while: off the loop, though nothing else runs in this command.
        await asyncio.to_thread(setup.install)
    except WoobInstallFailed as err:
        raise WoobInstallError(home=str(setup.home), reason=str(err)) from None
    modules = "skipped"
    if not args.no_modules:
        try:
            await asyncio.to_thread(setup.update_modules)
            modules = "fetched"
        except WoobInstallFailed:
            # woob fetches a module on its first use anyway; its site may be down now.
            modules = "on first use"
    # The catalog learns that its community connectors are available now.
    async with open_runtime(settings, refresh_catalog=True):
        pass
    emit_result(
        {
            "home": str(setup.home),
            "requirement": WOOB_REQUIREMENT,
            "modules": modules,
            "community_connectors": len(COMMUNITY),
        },
        as_json=args.json,
        lines=[
            f"woob installed in {setup.venv} ({WOOB_REQUIREMENT}), apart from Courier's own "
            "packages",
            f"its modules: {modules}",
            f"{len(COMMUNITY)} community connectors available; they are maintained by the "
            "woob community and may break when a site changes",
        ],
    )
    return 0
