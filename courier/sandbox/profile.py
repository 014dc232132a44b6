"""The Bot API methods about the bot itself and its files: getMe, getFile, the command
menu and the profile texts."""

from __future__ import annotations

import json
import re
from typing import Any

from courier.sandbox.call import Call, Handler
from courier.sandbox.media import MAX_DOWNLOAD_BYTES
from courier.sandbox.params import bad_request

COMMAND = re.compile(r"[a-z0-9_]{1,32}")


async def get_me(call: Call) -> dict[str, Any]:
    return dict(call.world.bot)


async def get_file(call: Call) -> dict[str, Any]:
    file_id = call.params.text("file_id") or ""
    stored = call.world.files.get(file_id)
    if stored is None:
        raise bad_request("invalid file_id")
    if len(stored.data) > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_path": stored.file_path,
    }


def _scope(call: Call) -> tuple[str, str]:
    scope = call.params.object("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), call.params.text("language_code") or ""


async def set_my_commands(call: Call) -> bool:
    commands = call.params.object("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    for command in commands:
        if not isinstance(command, dict) or not COMMAND.fullmatch(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("command description must be non-empty")
    call.world.commands[_scope(call)] = [
        {"command": c["command"], "description": c["description"]} for c in commands
    ]
    return True


async def get_my_commands(call: Call) -> list[dict[str, Any]]:
    return list(call.world.commands.get(_scope(call), []))


async def delete_my_commands(call: Call) -> bool:
    call.world.commands.pop(_scope(call), None)
    return True


async def accepted(call: Call) -> bool:
    """Profile settings the stand-in accepts without showing them anywhere."""
    return True


HANDLERS: dict[str, Handler] = {
    "getme": get_me,
    "getfile": get_file,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "deletemycommands": delete_my_commands,
    "setmydescription": accepted,
    "setmyshortdescription": accepted,
    "setmyname": accepted,
    "setchatmenubutton": accepted,
    "logout": accepted,
    "close": accepted,
}
