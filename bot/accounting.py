"""The accounting link as the bot's older routers use it (/integration is a flow now, whose
work runs in core/flows/integration_jobs.py): an `Accounting` bundle built from the bot's
parts (over the process's one provider registry, `Deps.providers`), and work that must
run after the update's transaction commits.

The accounting services open their own short transactions around each call to the
software (core/services/accounting.py), so the bot never calls them inside the update's
unit of work: a handler queues them with `say.then(...)`, and they run once it commits.
A failure there is no longer the unit of work's to tell, so `after_commit` tells it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot

from bot.context import Deps
from bot.i18n import Texts
from core.errors import CourierError
from core.services.accounting import Accounting, make_accounting
from core.services.publishing import PublishOutcome, on_document_ready

log = logging.getLogger(__name__)


def accounting(deps: Deps) -> Accounting:
    """An `Accounting` for one piece of work, over the process's registry: nothing to
    close after it, and every action shares the software's HTTP clients and limits."""
    return make_accounting(
        providers=deps.providers,
        settings=deps.settings,
        db=deps.db,
        vault=deps.vault,
        store=deps.store,
    )


def after_commit(
    *,
    bot: Bot,
    chat_id: int,
    texts: Texts,
    work: Callable[[], Awaitable[None]],
) -> Callable[[], Awaitable[None]]:
    """`work`, with a CourierError told to the person in their words (and the rest logged
    and told as an internal error): nothing after a commit may fail silently."""

    async def run() -> None:
        try:
            await work()
        except CourierError as err:
            await bot.send_message(chat_id, texts.error(err))
        except Exception:
            log.exception("accounting work after commit failed")
            await bot.send_message(chat_id, texts("common.internal_error"))

    return run


async def document_ready(deps: Deps, document_id: int) -> PublishOutcome | None:
    """The auto-publish hook for a document the bot just made ready (an upload, a review
    answer). Failures are the publication's state, told by /integration and the inbox;
    a link that is missing or unusable simply leaves the document in the inbox."""
    try:
        return await on_document_ready(accounting(deps), document_id=document_id)
    except CourierError as err:
        log.info("document %s not published: %s", document_id, err.key)
        return None
