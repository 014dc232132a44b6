"""2FA codes typed in the chat (being built)."""

from __future__ import annotations

from aiogram import Router

reply_router = Router(name="code-replies")
bare_router = Router(name="bare-codes")
