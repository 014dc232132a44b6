"""Run the demo supplier on a loopback port, and steer it from tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from aiohttp import web

from courier.demo_supplier.app import STATE, create_app
from courier.demo_supplier.config import DemoConfig, Faults
from courier.demo_supplier.state import DemoState


@dataclass(slots=True)
class RunningDemo:
    url: str
    app: web.Application
    runner: web.AppRunner

    @property
    def state(self) -> DemoState:
        return self.app[STATE]

    def inject(self, faults: Faults | None = None, **changes: Any) -> None:
        """Replace the faults (or change some fields of the current ones); counters restart."""
        base = faults or self.state.faults
        self.state.faults = replace(base, **changes)
        self.state.server_errors_served = self.state.rate_limits_served = 0

    def advance(self, delta: timedelta) -> None:
        """Move the demo's clock forward: codes, sessions and devices expire."""
        self.state.offset += delta

    def last_code(self, login: str) -> str:
        return self.state.last_code(login)

    def expire_sessions(self) -> None:
        self.state.sessions.clear()

    async def close(self) -> None:
        self.state.closing.set()
        await self.runner.cleanup()


async def start_demo_supplier(
    config: DemoConfig, host: str = "127.0.0.1", port: int = 0
) -> RunningDemo:
    app = create_app(config)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return RunningDemo(url=f"http://{host}:{bound}", app=app, runner=runner)
