"""aiogram's own client posts, edits and deletes messages on the stand-in, and meets
Telegram's refusals in the shape it knows."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)

from courier.sandbox.chat import TelegramUser
from courier.sandbox.world import BotWorld
from tests.integration.sandbox.conftest import png


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=f"act:{label}")] for label in labels
        ]
    )


async def test_the_user_reads_what_the_bot_sends_with_its_buttons(
    bot: Bot, world: BotWorld
) -> None:
    marie = TelegramUser.create(world, first_name="Marie")
    sent = await bot.send_message(
        marie.id,
        "<b>3 new invoices</b> from EDF &amp; Orange",
        parse_mode="HTML",
        reply_markup=keyboard("Open inbox"),
    )
    seen = await marie.wait_for_reply()
    assert seen.message_id == sent.message_id
    assert seen.text == "3 new invoices from EDF & Orange"
    assert seen.labels == ["Open inbox"]
    assert sent.entities is not None
    assert sent.entities[0].type == "bold"
    assert (sent.entities[0].offset, sent.entities[0].length) == (0, 14)
    assert isinstance(sent.reply_markup, InlineKeyboardMarkup)
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "act:Open inbox"
    assert sent.chat.id == marie.id
    assert sent.from_user is not None
    assert sent.from_user.is_bot


async def test_bad_html_is_refused_as_telegram_refuses_it(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Unsupported start tag"):
        await bot.send_message(marie.id, "Fournisseur <AT&T>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag"):
        await bot.send_message(marie.id, "<b>bold", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(marie.id, "Total: 12.50", parse_mode="MarkdownV2")
    assert marie.messages == []


async def test_text_and_button_limits_are_telegrams(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(marie.id, "é" * 4097)
    await bot.send_message(marie.id, "é" * 4096)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(marie.id, "   ")
    long_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="c:" + "x" * 63)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(marie.id, "pick", reply_markup=long_data)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(123, "nobody here")


async def test_an_edit_changes_the_message_and_drops_a_keyboard_it_does_not_repeat(
    bot: Bot, world: BotWorld
) -> None:
    marie = TelegramUser.create(world)
    sent = await bot.send_message(marie.id, "Connecting…", reply_markup=keyboard("Cancel"))
    await bot.edit_message_text("Connected", chat_id=marie.id, message_id=sent.message_id)
    edited = await marie.wait_for_edit()
    assert (edited.text, edited.labels, edited.edited) == ("Connected", [], True)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Connected", chat_id=marie.id, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=marie.id, message_id=sent.message_id, reply_markup=keyboard("Sync now")
    )
    assert marie.message(sent.message_id).labels == ["Sync now"]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=marie.id, message_id=999)
    own = await marie.say("hello")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=marie.id, message_id=own)


async def test_the_bot_deletes_a_message_holding_a_password(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    secret = await marie.say("hunter2")
    assert await bot.delete_message(marie.id, secret)
    assert marie.was_deleted(secret)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(marie.id, secret)


async def test_a_reply_names_a_message_that_exists(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    question = await marie.say("which code?")
    answer = await bot.send_message(
        marie.id, "this one", reply_parameters=ReplyParameters(message_id=question)
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "which code?"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(marie.id, "x", reply_parameters=ReplyParameters(message_id=77))
    fine = await bot.send_message(
        marie.id,
        "x",
        reply_parameters=ReplyParameters(message_id=77, allow_sending_without_reply=True),
    )
    assert fine.reply_to_message is None


async def test_files_go_both_ways(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    pdf = b"%PDF-1.7\n% an invoice\n%%EOF\n"
    sent = await bot.send_document(
        marie.id, BufferedInputFile(pdf, filename="facture-0042.pdf"), caption="Your invoice"
    )
    received = await marie.wait_for_reply()
    assert received.document is not None
    assert (received.document.file_name, received.document.data) == ("facture-0042.pdf", pdf)
    assert received.text == "Your invoice"
    assert sent.document is not None
    assert sent.document.file_size == len(pdf)

    uploaded = await marie.upload(b"%PDF-1.4 receipt", filename="ticket.pdf")
    file_id = world.chats[marie.id].messages[uploaded].document
    assert file_id is not None
    info = await bot.get_file(file_id.file_id)
    assert info.file_path is not None
    downloaded = await bot.download_file(info.file_path)
    assert downloaded is not None
    assert downloaded.read() == b"%PDF-1.4 receipt"
    # The same file again by its id: no upload, same bytes.
    again = await bot.send_document(marie.id, file_id.file_id)
    assert again.document is not None
    assert again.document.file_unique_id == info.file_unique_id
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_a_photo_must_be_an_image(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    photo = await bot.send_photo(marie.id, BufferedInputFile(png(2560, 1280), filename="p.png"))
    assert photo.photo is not None
    assert (photo.photo[-1].width, photo.photo[-1].height) == (1280, 640)
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(marie.id, BufferedInputFile(b"%PDF-1.7", filename="f.pdf"))
    with pytest.raises(ValueError, match="PNG, JPEG"):
        await marie.send_photo(b"not an image")


async def test_a_user_who_blocked_the_bot_cannot_be_written_to(bot: Bot, world: BotWorld) -> None:
    marie = TelegramUser.create(world)
    marie.block()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(marie.id, "hello?")
    marie.unblock()
    await bot.send_message(marie.id, "hello again")
    assert [m.text for m in marie.messages] == ["hello again"]


async def test_the_command_menu_is_kept_per_language(bot: Bot, world: BotWorld) -> None:
    from aiogram.types import BotCommand

    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands([BotCommand(command="aide", description="Aide")], language_code="fr")
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(language_code="fr")] == ["aide"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Not-Valid", description="x")])
