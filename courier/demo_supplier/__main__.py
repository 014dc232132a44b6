"""Run the demo supplier on its own: `python -m courier.demo_supplier --port 8765`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from courier.demo_supplier.config import sample_config
from courier.demo_supplier.server import start_demo_supplier


async def _serve(host: str, port: int, smtp_port: int) -> None:
    config = sample_config(smtp_port=smtp_port)
    demo = await start_demo_supplier(config, host=host, port=port)
    print(f"Demo Supplier on {demo.url}/login")
    for account in config.accounts:
        print(f"  {account.login} / {account.password}  (2FA: {account.two_factor})")
    try:
        await asyncio.Event().wait()
    finally:
        await demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--smtp-port", type=int, default=2525, help="where codes are mailed")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.smtp_port))


if __name__ == "__main__":
    main()
