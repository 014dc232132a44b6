"""The outbox reaches people in Telegram: in their language, with the button that helps,
within Telegram's limits, and nothing is lost when Telegram is away or a chat is gone."""

from __future__ import annotations

import asyncio

from aiogram import Bot
from sqlalchemy import update

from bot.notifier import Notifier
from bot.notify_pacing import Pace
from core.db import Database
from core.models import ChallengeChannel, Notification, NotificationState, Role
from core.services.challenges import open_challenge
from core.vault import Vault
from courier.sandbox.botapi import BotApi
from courier.sandbox.chat import TelegramUser
from courier.sandbox.limits import RateLimits
from courier.sandbox.world import BotWorld
from tests.integration.bot_notifier.conftest import add_member, notify, row
from tests.integration.conftest import World, connect


async def make_due(db: Database) -> None:
    """Skip the back-off: the test does not wait minutes for a retry."""
    async with db.transaction() as session:
        await session.exec(update(Notification).values(next_attempt_at=None))


async def test_new_invoices_of_a_fetch_are_one_message_in_french(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    first = await notify(db, world, "documents_fetched", supplier="EDF Entreprises", new=3, found=5)
    assert await notifier.deliver_due() == 1
    message = await marie.wait_for_reply()
    assert message.text == "EDF Entreprises : 3 nouveaux documents dans la boîte de réception."
    assert (await row(db, first)).state == NotificationState.SENT
    assert await notifier.deliver_due() == 0


async def test_invoices_claimed_together_are_told_together(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    await notify(db, world, "documents_fetched", supplier="EDF Entreprises", new=2)
    await notify(db, world, "documents_fetched", supplier="Orange Pro", new=1)
    await notify(
        db, world, "documents_received", to_owner=False, subject="Facture 42", document_ids=[7, 8]
    )
    assert await notifier.deliver_due() == 3
    message = await marie.wait_for_reply()
    assert message.text.splitlines() == [
        "Nouveau dans la boîte de réception :",
        "• EDF Entreprises : 2",
        "• Orange Pro : 1",
        "• par e-mail, « Facture 42 » : 2",
    ]
    assert len(marie.messages) == 1


async def test_a_code_request_carries_the_button_that_names_its_challenge(
    db: Database, vault: Vault, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    connection = await connect(db, vault, world)
    await notify(
        db,
        world,
        "code_requested",
        connection_id=connection.id,
        challenge_id=5,
        channel="sms",
        destination="••••12",
    )
    await notify(
        db, world, "connection_auth_failed", connection_id=connection.id, supplier="EDF Entreprises"
    )
    await notifier.deliver_due()
    prompt = await marie.wait_for_reply()
    assert prompt.text.startswith("EDF Entreprises a envoyé un code à ••••12.")
    assert prompt.button("Saisir le code").callback_data == "cp:5"
    alert = await marie.wait_for_reply()
    assert alert.text.startswith("EDF Entreprises a besoin de vous.")
    assert alert.button("Modifier les identifiants").callback_data == f"ca:update:{connection.id}"


async def test_workspace_news_goes_to_owners_and_admins_only(
    db: Database, world: World, notifier: Notifier, telegram: BotWorld, marie: TelegramUser
) -> None:
    await add_member(db, world, telegram_id=2002, role=Role.ADMIN)
    await add_member(db, world, telegram_id=3003, role=Role.MEMBER)
    admin = TelegramUser.create(telegram, user_id=2002, language_code="en")
    member = TelegramUser.create(telegram, user_id=3003)
    row_id = await notify(
        db,
        world,
        "mailbox_error",
        to_owner=False,
        mailbox_id=1,
        reason="auth_failed",
        username="factures@dupont.fr",
        folder="INBOX",
    )
    await notifier.deliver_due()
    assert (await marie.wait_for_reply()).text.startswith(
        "Je ne peux pas lire la boîte mail factures@dupont.fr"
    )
    # The workspace's locale (French) wins over the admin's own language.
    assert (await admin.wait_for_reply()).text.startswith("Je ne peux pas lire")
    assert member.messages == []
    assert (await row(db, row_id)).payload["_sent_to"] == [1001, 2002]


async def test_a_chat_that_blocked_the_bot_is_not_tried_again(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    marie.block()
    row_id = await notify(db, world, "documents_fetched", supplier="EDF", new=1)
    await notifier.deliver_due()
    gone = await row(db, row_id)
    assert (gone.state, gone.attempts) == (NotificationState.UNDELIVERABLE, 1)
    await make_due(db)
    assert await notifier.deliver_due() == 0
    assert notifier.stats.blocked == 1


async def test_a_429_waits_retry_after_and_sends_again_in_order(
    db: Database, api: BotApi, bot: Bot, world: World, marie: TelegramUser
) -> None:
    # Our pacing off for one chat, Telegram's on: the second message meets a 429.
    api.enforce_limits(RateLimits(per_chat_burst=1))
    eager = Notifier(bot=bot, db=db, pace=Pace(chat_interval=0.0))
    await notify(db, world, "documents_fetched", supplier="EDF", new=1)
    await notify(db, world, "mailbox_reset", to_owner=False, username="u", folder="INBOX")
    await eager.deliver_due()
    assert [m.text.split()[0] for m in marie.messages] == ["EDF", "Le"]
    assert eager.stats.retry_after == 1
    assert api.stats.too_many_requests == 1


async def test_nothing_is_lost_while_telegram_is_away(
    db: Database, api: BotApi, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    api.outage = True
    first = await notify(db, world, "documents_fetched", supplier="EDF", new=1)
    await notifier.deliver_due()
    waiting = await row(db, first)
    assert (waiting.state, waiting.attempts) == (NotificationState.PENDING, 1)
    assert waiting.next_attempt_at is not None
    assert await notifier.deliver_due() == 0  # it waits its back-off

    # Unreachable altogether: the server is gone.
    api.outage = False
    port = int(api.url.rsplit(":", 1)[1])
    await api.close()
    await make_due(db)
    await notifier.deliver_due()
    assert (await row(db, first)).attempts == 2

    await api.start(port=port)
    await make_due(db)
    await notifier.deliver_due()
    assert (await row(db, first)).state == NotificationState.SENT
    assert [m.text for m in marie.messages] == [
        "EDF : 1 nouveau document dans la boîte de réception."
    ]


async def test_two_notifiers_never_send_a_row_twice(
    db: Database, bot: Bot, world: World, telegram: BotWorld
) -> None:
    users = [TelegramUser.create(telegram, user_id=5000 + n) for n in range(12)]
    for user in users:
        await add_member(db, world, telegram_id=user.id, role=Role.ADMIN)
    for n in range(4):
        await notify(db, world, "mailbox_reset", to_owner=False, username=f"box{n}", folder="INBOX")
    fast = Pace(per_second=200, chat_interval=0.0)
    one = Notifier(bot=bot, db=db, pace=fast, batch=2)
    two = Notifier(bot=bot, db=db, pace=fast, batch=2)
    while sum(await asyncio.gather(one.deliver_due(), two.deliver_due())):
        pass
    assert all(len(user.messages) == 4 for user in users)
    assert one.stats.sent + two.stats.sent == 48


async def test_a_kind_without_words_waits_rather_than_vanishes(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    row_id = await notify(db, world, "monthly_report", documents=3)  # no words for it yet
    await notifier.deliver_due()
    waiting = await row(db, row_id)
    assert waiting.state == NotificationState.PENDING
    assert waiting.next_attempt_at is not None
    assert marie.messages == []


async def test_the_loop_delivers_what_arrives_and_stops_when_asked(
    db: Database, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    stop = asyncio.Event()
    notifier.idle_seconds = 60.0  # so only the enqueue's wake-up can bring it in time
    running = asyncio.create_task(notifier.run(stop))
    await asyncio.sleep(0.2)  # the loop found the outbox empty and waits
    await notify(db, world, "documents_fetched", supplier="EDF", new=2)
    assert (await marie.wait_for_reply()).text.startswith("EDF : 2")
    stop.set()
    await asyncio.wait_for(running, timeout=20)


async def test_codes_from_email_name_their_supplier_and_never_show_the_code(
    db: Database, vault: Vault, world: World, notifier: Notifier, marie: TelegramUser
) -> None:
    first = await connect(db, vault, world, login="a@dupont.fr")
    second = await connect(db, vault, world, login="b@dupont.fr")
    async with db.transaction() as session:
        one = await open_challenge(
            session=session, connection=first, channel=ChallengeChannel.EMAIL
        )
        two = await open_challenge(
            session=session, connection=second, channel=ChallengeChannel.EMAIL
        )
    await notify(db, world, "code_relayed", to_owner=False, challenge_id=one.id, subject="Code")
    await notify(
        db,
        world,
        "code_ambiguous",
        to_owner=False,
        challenge_ids=[one.id, two.id],
        code_sealed=vault.seal("493817"),
        subject="Code",
    )
    await notifier.deliver_due()
    relayed = await marie.wait_for_reply()
    assert relayed.text == "Code reçu dans votre boîte mail et transmis à EDF Entreprises."
    which = await marie.wait_for_reply()
    assert which.labels == ["EDF Entreprises", "EDF Entreprises"]
    assert [b.callback_data for row in which.buttons for b in row] == [
        f"cp:{one.id}",
        f"cp:{two.id}",
    ]
    assert "493817" not in which.text


async def test_an_expired_accounting_link_is_told_to_owners_and_admins(
    db: Database, world: World, notifier: Notifier, telegram: BotWorld, marie: TelegramUser
) -> None:
    await add_member(db, world, telegram_id=2002, role=Role.ADMIN)
    admin = TelegramUser.create(telegram, user_id=2002)
    await notify(
        db,
        world,
        "integration_expired",
        to_owner=False,
        integration_id=1,
        provider="Pennylane",
        company="Dupont SARL",
        documents_waiting=4,
    )
    await notifier.deliver_due()
    expected = "Le lien avec Pennylane (Dupont SARL) a expiré : 4 documents attendent"
    assert (await marie.wait_for_reply()).text.startswith(expected)
    assert (await admin.wait_for_reply()).text.startswith(expected)


async def test_a_message_telegram_refuses_is_tried_a_few_times_then_given_up(
    db: Database, bot: Bot, world: World, marie: TelegramUser
) -> None:
    notifier = Notifier(bot=bot, db=db, pace=Pace(chat_interval=0.0))
    # Longer than Telegram's 4,096 characters: a bug of ours, which no retry can fix.
    row_id = await notify(
        db, world, "mail_without_document", to_owner=False, subject="x" * 5000, sender="a@b.fr"
    )
    for attempt in range(1, 5):
        await make_due(db)
        await notifier.deliver_due()
        assert (await row(db, row_id)).attempts == attempt
    assert (await row(db, row_id)).state == NotificationState.UNDELIVERABLE
    assert notifier.stats.refused == 4
    assert marie.messages == []
