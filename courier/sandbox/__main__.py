"""The Bot API stand-in alone, for a bot in another process (`courier bot` with
COURIER_TELEGRAM_API_URL pointing here) and users driven over HTTP (see user_routes).

    python -m courier.sandbox [--port 8081] [--token 1000000001:…] [--limits]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from courier.roles import stop_on_signals
from courier.sandbox.botapi import BotApi
from courier.sandbox.launch import BOT_USERNAME, SANDBOX_TOKEN
from courier.sandbox.limits import RateLimits


async def serve(args: argparse.Namespace) -> None:
    api = BotApi(limits=RateLimits() if args.limits else None)
    api.add_bot(args.token, username=args.username)
    url = await api.start(args.host, args.port)
    print(f"Bot API stand-in at {url} for @{args.username} (token {args.token})", flush=True)
    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        await stop.wait()
    finally:
        await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m courier.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=SANDBOX_TOKEN)
    parser.add_argument("--username", default=BOT_USERNAME)
    parser.add_argument("--limits", action="store_true", help="enforce Telegram's flood limits")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
