"""Admins change the index from a private chat: ``/add URL``, a sent file, ``/remove ID``.

Every change runs on the bot's one build worker (``bot.telegram.builds``), so answers go on
meanwhile and an admin whose change has to wait for another build is told it is queued. Anyone
else gets one polite line that says nothing about how the bot works inside. The index's web
and loader modules are imported at the first change, not with the bot: most bots never add one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from telegram import Document, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

import index
from bot.telegram.addressing import command_argument
from bot.telegram.builds import build_and_switch
from bot.telegram.messaging import Typing, reply_html
from bot.telegram.services import Services
from index import UPLOAD_FORMATS, CitebotError, UnknownSource, upload_suffix

if TYPE_CHECKING:
    from index import RefreshReport, SourceResult

log = logging.getLogger(__name__)

REFUSED = "Sorry, only the bot's admins can add or remove articles."
PRIVATE_ONLY = "Please send that to me in a private chat."
QUEUED = "Queued: I'm updating the index right now and will get to this as soon as that's done."
ADD_HOW = (
    "Send <code>/add</code> and a link, e.g. <code>/add https://example.org/article</code>, "
    f"or send me a file: {UPLOAD_FORMATS}."
)
REMOVE_HOW = "Send <code>/remove</code> and the id /sources shows, e.g. a page's address."
# Telegram hands bots files of at most 20 MB (getFile); a self-hosted Bot API server, more.
TELEGRAM_FILE_MB = 20.0
# A file's download may take longer than a Bot API call.
DOWNLOAD_TIMEOUT = 120.0
_MB = 1024 * 1024


class AdminHandlers:
    """``/add``, ``/remove`` and documents sent in private chats."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._admins = frozenset(services.settings.telegram.admin_users)
        self._typing = Typing(services.background)
        t, sources = services.settings.telegram, services.settings.sources
        limits = [sources.max_download_mb] if sources.max_download_mb > 0 else []
        if not t.base_url:
            limits.append(TELEGRAM_FILE_MB)
        self.max_file_mb = min(limits) if limits else 0.0

    async def _refused(self, context: ContextTypes.DEFAULT_TYPE, message: Message) -> bool:
        """Whether ``message`` may not change the index (its sender was told why)."""
        if message.from_user is None or message.from_user.id not in self._admins:
            await reply_html(context.bot, message, REFUSED)
            return True
        if message.chat.type != ChatType.PRIVATE:
            await reply_html(context.bot, message, PRIVATE_ONLY)
            return True
        return False

    async def on_add(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/add URL...``: fetch the pages and index them."""
        message = update.message
        if message is None or await self._refused(context, message):
            return
        urls = command_argument(message).split()
        if not urls:
            await reply_html(context.bot, message, ADD_HOW)
            return
        report = await self._build(context, message, index.add_urls, urls)
        if report is not None:
            lines = [await self._outcome(message, r) for r in report.sources]
            await reply_html(context.bot, message, "\n\n".join(lines))

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A file sent in a private chat: download it and index it as an upload."""
        message = update.message
        if message is None or message.document is None or await self._refused(context, message):
            return
        document = message.document
        name = document.file_name or "file"
        try:
            upload_suffix(name)
        except CitebotError as exc:
            await reply_html(context.bot, message, _sentence(exc))
            return
        data = await self._download(context, message, document)
        if data is None:
            return
        report = await self._build(context, message, index.add_upload, name, data)
        if report is not None:
            await reply_html(context.bot, message, await self._outcome(message, report.sources[0]))

    async def on_remove(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/remove ID``: take an added page or an upload out of the index."""
        message = update.message
        if message is None or await self._refused(context, message):
            return
        article_id = command_argument(message)
        if not article_id:
            await reply_html(context.bot, message, REMOVE_HOW)
            return
        report = await self._build(context, message, index.remove_source, article_id)
        if report is not None:
            result = report.sources[0]
            title = escape(result.title or result.source)
            await reply_html(
                context.bot, message,
                f"Removed: <b>{title}</b>\n<code>{escape(result.source)}</code>",
            )

    def _too_large(self, size: int | None) -> str | None:
        if size is None or not self.max_file_mb or size <= self.max_file_mb * _MB:
            return None
        return (
            f"That file is {size / _MB:.1f} MB; I can take files of up to "
            f"{self.max_file_mb:g} MB."
        )

    async def _download(
        self, context: ContextTypes.DEFAULT_TYPE, message: Message, document: Document
    ) -> bytes | None:
        """The file's bytes, or None once the admin was told why not."""
        refusal = self._too_large(document.file_size)
        if refusal is None:
            try:
                file = await context.bot.get_file(document.file_id)
                data = bytes(await file.download_as_bytearray(read_timeout=DOWNLOAD_TIMEOUT))
            except TelegramError as exc:
                log.warning("downloading %s failed: %s", document.file_name, exc)
                refusal = f"I couldn't download that file from Telegram ({escape(str(exc))})."
            else:
                refusal = self._too_large(len(data))
                if refusal is None:
                    return data
        await reply_html(context.bot, message, refusal)
        return None

    async def _build(
        self,
        context: ContextTypes.DEFAULT_TYPE,
        message: Message,
        job: Callable[..., RefreshReport],
        *args: Any,
    ) -> RefreshReport | None:
        """Run ``job`` on the build worker; None once the admin was told why it failed."""
        if self._services.builds.busy:
            await reply_html(context.bot, message, QUEUED)
        try:
            async with self._typing.shown(context.bot, message.chat_id, 0):
                return await build_and_switch(self._services, job, *args)
        except UnknownSource:
            text = (f"There is no added page or upload <code>{escape(args[0])}</code>; "
                    "/sources lists them.")
        except CitebotError as exc:
            text = _sentence(exc)
        await reply_html(context.bot, message, text)
        return None

    async def _outcome(self, message: Message, result: SourceResult) -> str:
        """How one added page or upload went: its title and paragraph count, or why it failed."""
        source = f"<code>{escape(result.source)}</code>"
        if result.failed:
            return f"Couldn't add {source}: {escape(result.reason or 'it failed')}."
        count = await self._services.run(
            self._services.engine.paragraph_count, result.source, key=message.chat_id
        )
        title = escape(result.title or result.source)
        noun = "paragraph" if count == 1 else "paragraphs"
        return f"{result.outcome.capitalize()}: <b>{title}</b>, {count} {noun}\n{source}"


def _sentence(exc: CitebotError) -> str:
    """An error's one line as an HTML sentence."""
    line = exc.one_line()
    return escape(line if line.endswith((".", "!", "?")) else line + ".")
