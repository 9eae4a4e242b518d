"""The buttons under answers: a source's full paragraph, its context, and further results."""

from __future__ import annotations

from telegram import CallbackQuery, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.models import Citation
from bot.telegram import buttons
from bot.telegram.html_render import (
    render_context,
    render_more,
    render_paragraph,
    split_html,
)
from bot.telegram.messaging import not_modified, send_html, topic_of
from bot.telegram.services import Services

EXPIRED = "This button has expired. Ask the question again."
GONE = "That passage is no longer in the index."


class SourceButtons:
    """Handles presses of the Source, Context and More buttons."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._state = services.state

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Source, Context and More buttons: only ever show what an answer in this chat cited."""
        query = update.callback_query
        if query is None:
            return
        press = buttons.decode(query.data)
        message = query.message
        state = self._state
        stored = await state.answer(press.answer_id) if press else None
        if (
            press is None
            or message is None
            or stored is None
            or stored.chat_id != message.chat.id
            or press.index >= len(stored.citations)
        ):
            await query.answer(EXPIRED)
            return
        topic_id = topic_of(message) if isinstance(message, Message) else 0
        sent: list[Message] | None
        if press.kind == buttons.SOURCE:
            sent = await send_html(
                context.bot,
                message.chat.id,
                render_paragraph(stored.citations[press.index]),
                reply_to=message.message_id,
                topic_id=topic_id,
                keyboard=buttons.context_keyboard(stored.answer_id, press.index),
            )
        elif press.kind == buttons.CONTEXT:
            sent = await self._show_context(
                context, query, stored.citations[press.index], topic_id, query.from_user.id
            )
            if sent is None:
                await query.answer(GONE)
                return
        else:
            if not await state.mark_more_shown(stored.answer_id):
                await query.answer("Already shown above.")
                return
            more = stored.citations[stored.cited :]
            sent = await send_html(
                context.bot,
                message.chat.id,
                render_more(more),
                reply_to=message.message_id,
                topic_id=topic_id,
                keyboard=buttons.more_keyboard(stored.answer_id, stored.cited, [c.n for c in more]),
            )
        await query.answer()
        ids = [m.message_id for m in sent]
        await state.link_messages(message.chat.id, stored.thread_id, ids)

    async def _show_context(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        query: CallbackQuery,
        source: Citation,
        topic_id: int,
        user_id: int,
    ) -> list[Message] | None:
        """Replace the paragraph message by the paragraph with its neighbours."""
        run, paragraph = self._services.run, self._services.engine.paragraph
        article, number = source.ref.article_id, source.ref.number
        if await run(paragraph, article, number, key=user_id) is None:
            return None
        before = await run(paragraph, article, number - 1, key=user_id)
        after = await run(paragraph, article, number + 1, key=user_id)
        chunks = split_html(
            render_context(source, before.text if before else None, after.text if after else None)
        )
        message = query.message
        sent: list[Message] = []
        if message is None:  # the press was checked to have one; the type cannot know
            return sent
        if isinstance(message, Message):
            try:
                edited = await query.edit_message_text(
                    chunks[0],
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    reply_markup=None,
                )
            except BadRequest as exc:
                if not not_modified(exc):  # a second press: the context is already shown
                    raise
                return []
            if isinstance(edited, Message):
                sent.append(edited)
            chunks = chunks[1:]
        for chunk in chunks:
            sent.extend(
                await send_html(
                    context.bot,
                    message.chat.id,
                    chunk,
                    reply_to=message.message_id,
                    topic_id=topic_id,
                )
            )
        return sent

