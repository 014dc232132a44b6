"""`courier digest list|on|off` in a real process: the owners and admins of a workspace,
whether each gets the weekly digest, and switching it for one of them or for all."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy import make_url

from core.db import create_database
from core.services.members import join_workspace
from tests.e2e.forkserver import run_courier


def courier(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {"COURIER_DATA_DIR": str(home / "var"), "COURIER_MAIL_DOMAIN": "in.example.com"}
    return run_courier(*args, cwd=Path(__file__).resolve().parents[2], env=env)


async def test_the_owner_turns_the_digest_off_and_on_from_the_command_line(
    tmp_path: Path,
) -> None:
    created = courier(tmp_path, "workspace", "create", "Acme", "--slug", "acme", "--json")
    assert created.returncode == 0, created.stderr
    # Marie joins with the invite, as /start in the chat would do.
    db = create_database(make_url(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'courier.db'}"))
    async with db.transaction() as session:
        await join_workspace(
            session=session,
            code=json.loads(created.stdout)["invite_code"],
            telegram_user_id=1001,
            display_name="Marie",
        )
    await db.dispose()

    listed = courier(tmp_path, "digest", "list", "--workspace", "acme", "--json")
    assert json.loads(listed.stdout) == [
        {"telegram_id": 1001, "name": "Marie", "role": "owner", "digest": "on", "chat": "ok"}
    ]
    off = courier(tmp_path, "digest", "off", "--workspace", "acme", "--telegram-id", "1001")
    assert off.stdout.strip() == "weekly digest off for 1 member(s) (1 changed)"
    listed = courier(tmp_path, "digest", "list", "--workspace", "acme", "--json")
    assert json.loads(listed.stdout)[0]["digest"] == "off"
    again = courier(tmp_path, "digest", "on", "--workspace", "acme")
    assert again.stdout.strip() == "weekly digest on for 1 member(s) (1 changed)"

    # A Telegram id that is no owner or admin here, and a workspace that does not exist.
    stranger = courier(tmp_path, "digest", "off", "--workspace", "acme", "--telegram-id", "7")
    assert stranger.returncode != 0
    assert "Traceback" not in stranger.stderr
    assert "no owner or admin with Telegram id 7" in stranger.stderr
    nowhere = courier(tmp_path, "digest", "list", "--workspace", "nope")
    assert nowhere.returncode != 0
    assert "no workspace 'nope'" in nowhere.stderr
