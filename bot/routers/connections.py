"""The connections conversation (being built)."""

from __future__ import annotations

from aiogram import Router

router = Router(name="connections")
