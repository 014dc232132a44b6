"""`/digest on|off`: the weekly digest for the person typing it (owners and admins)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import Message

from bot.context import Actor, Replies
from bot.i18n import Texts
from core.permissions import Action
from core.services.digests import set_weekly_digest

CHOICES = {"on": True, "off": False}


async def digest(
    message: Message, command: CommandObject, actor: Actor, texts: Texts, say: Replies
) -> None:
    if actor.member is None or not actor.may(Action.WEEKLY_DIGEST):
        say(message.answer(texts("digest.managers_only")))
        return
    choice = (command.args or "").strip().lower()
    if choice in CHOICES:
        set_weekly_digest(actor.member, enabled=CHOICES[choice])
    say(message.answer(texts("digest.on" if actor.member.weekly_digest else "digest.off")))


def build() -> Router:
    """A fresh router (a router joins one dispatcher only)."""
    router = Router(name="digest")
    router.message.register(digest, Command("digest"), StateFilter(None))
    return router
