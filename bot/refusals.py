"""How the chat words a refusal of core's permission table (core/permissions.py): one
line per action saying who may do it, else the generic "owners and admins" line."""

from __future__ import annotations

from bot.i18n import Texts
from core.errors import NotAllowed


def refusal(error: NotAllowed, texts: Texts) -> str:
    key = f"permissions.{error.params.get('action', '')}"
    return texts(key) if texts.has(key) else texts("common.not_allowed")
