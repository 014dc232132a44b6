"""The bot's whole story through `courier run` and the Bot API stand-in, as Telegram users
live it: join with the invite, connect the Demo Supplier whose login code is mailed and
relayed without typing, hear the result, fetch now, send a photo of a receipt; and nothing
secret is echoed or logged. (A code typed in the chat: tests/integration/bot.)"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from tests.integration.sandbox.conftest import png
from tests.waiting import until

REPO = Path(__file__).resolve().parents[2]
TOKEN = "5151515151:AAF-courier-e2e-token-0123456789abcd"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _courier(env: dict[str, str], *args: str) -> Any:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "courier",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return json.loads(out) if "--json" in args else out.decode()


async def test_join_connect_with_a_mailed_code_fetch_and_send_a_photo(tmp_path: Path) -> None:
    api = BotApi()
    await api.start()
    world = api.add_bot(TOKEN, username="courier_e2e_bot")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")} | {
        "COURIER_DATA_DIR": str(tmp_path / "var"),
        "COURIER_MAIL_DOMAIN": "in.example.com",
        "COURIER_SMTP_PORT": str(_free_port()),
        "COURIER_DEMO_SUPPLIER_PORT": str(_free_port()),
        "COURIER_SCHEDULER_TICK_SECONDS": "1",
        "COURIER_TELEGRAM_TOKEN": TOKEN,
        "COURIER_TELEGRAM_API_URL": api.url,
        "COURIER_LOG_LEVEL": "INFO",
    }
    created = await _courier(
        env, "workspace", "create", "Acme", "--slug", "demo", "--locale", "en", "--json"
    )
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "courier",
        "run",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert run.stdout is not None
    # Read as it comes: a full pipe would stall the process at its next log line.
    reading = asyncio.create_task(run.stdout.read())
    try:
        marie = TelegramUser.create(world, first_name="Marie", language_code="en")
        # `courier run` starts every part first; on a busy machine that takes a while.
        await until(lambda: world.poll_generation > 0, "courier run's bot to poll", within=120)
        await marie.say(f"/start {created['invite_code']}")
        assert "Welcome to Acme" in (await marie.wait_for_reply()).text

        await marie.say("/connect")
        await marie.wait_for_reply()
        await marie.say("demo")
        await marie.wait_for_reply()  # the login question: "demo" means the Demo Supplier
        await marie.say("mail@example.com")
        await marie.wait_for_reply()
        secret = await marie.say("demo")
        await marie.wait_for_deletion(secret)
        history = await marie.wait_for_reply()
        assert "Password received" in history.text
        await marie.press("Full history", message=history)
        assert "in the background" in (await marie.wait_for_reply()).text

        heard = [(await marie.wait_for_reply(within=60)).text]
        while not any("Demo Supplier is connected" in t for t in heard):
            heard.append((await marie.wait_for_reply(within=60)).text)
        assert "Demo Supplier is connected: 12 invoices found, 12 new" in heard[-1]

        await marie.say("/connections")
        listing = await marie.wait_for_reply()
        assert "Demo Supplier (mail@example.com): working" in listing.text
        await marie.press("1. Demo Supplier · mail@example.com · working")
        await marie.press("Fetch now", message=await marie.wait_for_reply())
        assert "fetched in a moment" in (await marie.wait_for_reply()).text

        await marie.send_photo(png())
        assert "Added to the inbox" in (await marie.wait_for_reply()).text
        rows = await _courier(env, "inbox", "list", "--workspace", "demo", "--json")
        assert [r["source"] for r in rows].count("telegram") == 1
        assert [r["source"] for r in rows].count("connector") == 12
    finally:
        run.terminate()
        await asyncio.wait_for(run.wait(), timeout=30)
        output = await reading
        await api.close()
    assert run.returncode == 0, output.decode()[-2000:]
    log = output.decode()
    assert "bot: @courier_e2e_bot by long polling" in log
    codes = await _courier(env, "inbound", "list", "--workspace", "demo", "--json")
    assert [m["state"] for m in codes] == ["code_relayed"]
    # The password typed in the chat ("demo") never appears as a value in the log.
    assert "'demo'" not in log
    assert '"demo"' not in log
    assert "text=demo" not in log
    assert all(m.text != "demo" for m in marie.messages)
