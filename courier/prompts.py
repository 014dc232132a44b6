"""Reading a secret or a code from the person at the terminal."""

from __future__ import annotations

import asyncio
import getpass
import sys

from pydantic import SecretStr


def _read(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


async def read_secret(prompt: str) -> SecretStr:
    """From a hidden prompt, or the first line of standard input; never from an argument,
    which would stay in the shell's history and in `ps`."""
    return SecretStr(await asyncio.to_thread(_read, prompt))
