"""The Bot API methods that post, change and remove messages, and answer button presses."""

from __future__ import annotations

import time
from typing import Any

from courier.sandbox.call import Call, Handler
from courier.sandbox.markup import (
    MAX_CAPTION,
    MAX_TEXT,
    formatted,
    inline_keyboard,
    reply_keyboard,
)
from courier.sandbox.media import MAX_PHOTO_BYTES, MAX_UPLOAD_BYTES, image_size, scaled
from courier.sandbox.params import ApiError, Upload, bad_request
from courier.sandbox.world import (
    ChatEvent,
    PrivateChat,
    StoredFile,
    StoredMessage,
    now_epoch,
)

#: Telegram forgets a callback query it was not answered for in about this long.
CALLBACK_TTL_SECONDS = 15 * 60


def _reply_to(call: Call, chat: PrivateChat) -> int | None:
    params = call.params
    wanted = params.integer("reply_to_message_id")
    allow_missing = params.boolean("allow_sending_without_reply")
    reply = params.object("reply_parameters", what="reply parameters")
    if isinstance(reply, dict):
        wanted = reply.get("message_id")
        allow_missing = bool(reply.get("allow_sending_without_reply", False))
    if wanted is None:
        return None
    replied = chat.messages.get(int(wanted))
    if replied is None or replied.deleted:
        if allow_missing:
            return None
        raise bad_request("message to be replied not found")
    return replied.message_id


def _reply_markup(call: Call) -> tuple[list[list[dict[str, Any]]] | None, Any]:
    """The inline keyboard to store with the message, and the markup as given."""
    markup = call.params.object("reply_markup", what="reply keyboard markup")
    return inline_keyboard(markup), markup


def _show_reply_markup(chat: PrivateChat, markup: Any) -> None:
    """Reply keyboards and force-reply change the user's input field, not the message."""
    labels = reply_keyboard(markup)
    if labels is False:
        chat.reply_keyboard = None
    elif isinstance(labels, list):
        chat.reply_keyboard = labels
    chat.force_reply = isinstance(markup, dict) and bool(markup.get("force_reply"))


def _post(call: Call, chat: PrivateChat, message: StoredMessage) -> dict[str, Any]:
    chat.messages[message.message_id] = message
    call.stats.messages_sent += 1
    call.world.record(chat, ChatEvent("sent", message.message_id))
    return call.world.message_json(message)


async def send_message(call: Call) -> dict[str, Any]:
    params = call.params
    raw = params.text("text")
    if raw is None:
        call.chat()
        raise bad_request("message text is empty")
    text, entities = formatted(raw, params.text("parse_mode"), limit=MAX_TEXT)
    chat = call.chat()
    reply_to = _reply_to(call, chat)
    keyboard, markup = _reply_markup(call)
    chat = call.writable_chat()
    _show_reply_markup(chat, markup)
    message = StoredMessage(
        message_id=chat.new_message_id(),
        chat_id=chat.user.id,
        from_bot=True,
        date=now_epoch(),
        text=text,
        entities=entities,
        inline_keyboard=keyboard,
        reply_to_message_id=reply_to,
    )
    return _post(call, chat, message)


def _stored_upload(call: Call, name: str, *, photo: bool) -> StoredFile:
    source = call.params.file(name)
    if source is None:
        raise bad_request(f"there is no {name} in the request")
    world = call.world
    if isinstance(source, str):
        if source.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        known = world.files.get(source)
        if known is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return known
    assert isinstance(source, Upload)
    if len(source.data) > (MAX_PHOTO_BYTES if photo else MAX_UPLOAD_BYTES):
        raise ApiError(413, "Request Entity Too Large")
    if not source.data:
        raise bad_request("file must be non-empty")
    if photo:
        size = image_size(source.data)
        if size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        return world.store_file(
            source.data, folder="photos", file_name=None, mime_type=None, size=scaled(size)
        )
    return world.store_file(
        source.data,
        folder="documents",
        file_name=source.filename,
        mime_type=source.content_type or "application/octet-stream",
    )


async def _send_file(call: Call, name: str) -> dict[str, Any]:
    params = call.params
    chat = call.chat()
    photo = name == "photo"
    caption: str | None = None
    entities: list[dict[str, Any]] = []
    if (raw := params.text("caption")) not in (None, ""):
        assert raw is not None
        caption, entities = formatted(
            raw, params.text("parse_mode"), limit=MAX_CAPTION, what="message caption"
        )
    stored = _stored_upload(call, name, photo=photo)
    reply_to = _reply_to(call, chat)
    keyboard, markup = _reply_markup(call)
    chat = call.writable_chat()
    _show_reply_markup(chat, markup)
    message = StoredMessage(
        message_id=chat.new_message_id(),
        chat_id=chat.user.id,
        from_bot=True,
        date=now_epoch(),
        caption=caption,
        caption_entities=entities,
        document=None if photo else stored,
        photo=stored if photo else None,
        inline_keyboard=keyboard,
        reply_to_message_id=reply_to,
    )
    return _post(call, chat, message)


async def send_document(call: Call) -> dict[str, Any]:
    return await _send_file(call, "document")


async def send_photo(call: Call) -> dict[str, Any]:
    return await _send_file(call, "photo")


def _editable(call: Call, *, missing: str) -> tuple[PrivateChat, StoredMessage]:
    params = call.params
    if params.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = call.chat()
    message_id = params.integer("message_id", empty="message identifier is not specified")
    assert message_id is not None
    message = chat.messages.get(message_id)
    if message is None or message.deleted:
        raise bad_request(missing)
    if not message.from_bot:
        raise bad_request("message can't be edited")
    return chat, message


NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _commit_edit(
    call: Call, chat: PrivateChat, message: StoredMessage, before: tuple[Any, ...]
) -> dict[str, Any]:
    after = (message.text, message.entities, message.caption, message.inline_keyboard)
    if after == before:
        raise bad_request(NOT_MODIFIED)
    message.edit_date = now_epoch()
    call.world.record(chat, ChatEvent("edited", message.message_id))
    return call.world.message_json(message)


async def edit_message_text(call: Call) -> dict[str, Any]:
    params = call.params
    chat, message = _editable(call, missing="message to edit not found")
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    raw = params.text("text")
    if raw is None:
        raise bad_request("text must be non-empty")
    text, entities = formatted(raw, params.text("parse_mode"), limit=MAX_TEXT)
    # Like Telegram: an edit that does not repeat the keyboard removes it.
    keyboard = inline_keyboard(params.object("reply_markup", what="reply keyboard markup"))
    before = (message.text, message.entities, message.caption, message.inline_keyboard)
    message.text, message.entities, message.inline_keyboard = text, entities, keyboard
    try:
        return _commit_edit(call, chat, message, before)
    except ApiError:
        message.text, message.entities, _, message.inline_keyboard = before
        raise


async def edit_message_caption(call: Call) -> dict[str, Any]:
    params = call.params
    chat, message = _editable(call, missing="message to edit not found")
    if message.document is None and message.photo is None:
        raise bad_request("there is no caption in the message to edit")
    caption: str | None = None
    entities: list[dict[str, Any]] = []
    if (raw := params.text("caption")) not in (None, ""):
        assert raw is not None
        caption, entities = formatted(
            raw, params.text("parse_mode"), limit=MAX_CAPTION, what="message caption"
        )
    keyboard = inline_keyboard(params.object("reply_markup", what="reply keyboard markup"))
    before = (message.text, message.entities, message.caption, message.inline_keyboard)
    saved = message.caption_entities
    message.caption, message.caption_entities, message.inline_keyboard = caption, entities, keyboard
    try:
        return _commit_edit(call, chat, message, before)
    except ApiError:
        message.caption, message.caption_entities, message.inline_keyboard = (
            before[2],
            saved,
            before[3],
        )
        raise


async def edit_message_reply_markup(call: Call) -> dict[str, Any]:
    chat, message = _editable(call, missing="message to edit not found")
    keyboard = inline_keyboard(call.params.object("reply_markup", what="reply keyboard markup"))
    before = (message.text, message.entities, message.caption, message.inline_keyboard)
    message.inline_keyboard = keyboard
    try:
        return _commit_edit(call, chat, message, before)
    except ApiError:
        message.inline_keyboard = before[3]
        raise


def _delete(call: Call, chat: PrivateChat, message_id: int) -> bool:
    message = chat.messages.get(message_id)
    if message is None or message.deleted:
        return False
    message.deleted = True
    call.world.record(chat, ChatEvent("deleted", message_id))
    return True


async def delete_message(call: Call) -> bool:
    chat = call.chat()
    message_id = call.params.integer("message_id", empty="message identifier is not specified")
    assert message_id is not None
    if not _delete(call, chat, message_id):
        raise bad_request("message to delete not found")
    return True


async def delete_messages(call: Call) -> bool:
    chat = call.chat()
    ids = call.params.object("message_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise bad_request("message_ids must be a non-empty list of at most 100 identifiers")
    deleted = [_delete(call, chat, int(message_id)) for message_id in ids]
    return any(deleted)


async def answer_callback_query(call: Call) -> bool:
    params = call.params
    query_id = params.text("callback_query_id") or ""
    pending = call.world.callbacks.get(query_id)
    too_old = "query is too old and response timeout expired or query ID is invalid"
    if (
        pending is None
        or pending.answered
        or time.monotonic() - pending.created > CALLBACK_TTL_SECONDS
    ):
        raise bad_request(too_old)
    text = params.text("text") or ""
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    pending.answered = True
    chat = call.world.chats[pending.chat_id]
    call.world.record(
        chat,
        ChatEvent(
            "answered",
            pending.message_id,
            text=text,
            show_alert=params.boolean("show_alert"),
        ),
    )
    return True


async def send_chat_action(call: Call) -> bool:
    chat = call.chat()
    if chat.user.blocked_bot:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    return True


HANDLERS: dict[str, Handler] = {
    "sendmessage": send_message,
    "senddocument": send_document,
    "sendphoto": send_photo,
    "editmessagetext": edit_message_text,
    "editmessagecaption": edit_message_caption,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "deletemessages": delete_messages,
    "answercallbackquery": answer_callback_query,
    "sendchataction": send_chat_action,
}
