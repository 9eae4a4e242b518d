"""Which messages are questions for the bot, and the question they ask."""

from __future__ import annotations

import re

from telegram import Message, MessageEntity

_SPACES = re.compile(r"[ \t]+")


def _without_ranges(text: str, ranges: list[tuple[int, int]]) -> str:
    """``text`` minus the given UTF-16 (offset, length) ranges, as Telegram counts entities."""
    units = text.encode("utf-16-le")
    kept = bytearray()
    pos = 0
    for offset, length in sorted(ranges):
        kept += units[pos : offset * 2]
        pos = max(pos, (offset + length) * 2)
    kept += units[pos:]
    cleaned = kept.decode("utf-16-le", errors="ignore")
    lines = [_SPACES.sub(" ", line).strip() for line in cleaned.splitlines()]
    return "\n".join(line for line in lines if line).strip(" ,:;")


def _bot_mentions(message: Message, username: str, bot_id: int) -> list[MessageEntity]:
    found = []
    wanted = "@" + username.lower()
    kinds: list[str | None] = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    for entity, text in message.parse_entities(kinds).items():
        if entity.type == MessageEntity.MENTION and text.lower() == wanted:
            found.append(entity)
        elif entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            found.append(entity)
    return found


def real_reply_target(message: Message) -> Message | None:
    """The message this one replies to; ``None`` for the implicit reply every forum topic message
    carries to the topic's first message."""
    target = message.reply_to_message
    if target is None:
        return None
    if message.is_topic_message and (
        target.forum_topic_created is not None or target.message_id == message.message_thread_id
    ):
        return None
    return target


def is_reply_to_bot(message: Message, bot_id: int) -> bool:
    """Whether the message answers one of the bot's own messages."""
    target = real_reply_target(message)
    return target is not None and target.from_user is not None and target.from_user.id == bot_id


def private_question(message: Message, username: str, bot_id: int) -> str:
    """The question of a private message: all of it, less any mention of the bot."""
    mentions = _bot_mentions(message, username, bot_id)
    return _without_ranges(message.text or "", [(e.offset, e.length) for e in mentions])


def group_question(message: Message, username: str, bot_id: int) -> str | None:
    """The question a group message asks the bot, or ``None`` if it is not addressed to it.

    A message is addressed to the bot when it mentions it (``@name`` or a text mention) or
    replies to one of its messages; the mention itself is not part of the question.
    """
    text = message.text or ""
    mentions = _bot_mentions(message, username, bot_id)
    if not mentions and not is_reply_to_bot(message, bot_id):
        return None
    return _without_ranges(text, [(e.offset, e.length) for e in mentions])


def command_argument(message: Message) -> str:
    """The text after a leading ``/command`` or ``/command@bot``."""
    text = message.text or ""
    for entity in message.entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            return _without_ranges(text, [(0, entity.length)])
    return text.strip()


def asker(message: Message) -> int:
    """Who asks, for rate limits and turns: the user, or the chat a message is sent on behalf of
    (anonymous group admins all share one bot account, so their user id says nothing)."""
    if message.sender_chat is not None:
        return message.sender_chat.id
    if message.from_user is not None:
        return message.from_user.id
    return message.chat_id


def sent_by_bot(message: Message) -> bool:
    """Whether another bot sent the message (bots answering bots could loop forever), or a
    linked channel's post was copied into the group. Anonymous admins, whose messages come from
    a bot account on behalf of the group, are people."""
    if message.is_automatic_forward:
        return True
    sender = message.from_user
    return sender is not None and sender.is_bot and message.sender_chat is None
