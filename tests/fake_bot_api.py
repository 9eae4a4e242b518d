"""A fake Telegram Bot API server for end-to-end tests of the bot.

An aiohttp server on 127.0.0.1 (random port), running in a background thread, that speaks enough
of the Bot API for python-telegram-bot: getMe, getUpdates (long polling with offset and timeout),
sendMessage, editMessageText, answerCallbackQuery, sendChatAction, setMyCommands, webhook calls,
getFile and file downloads (of documents users send).
Tests inject updates as real update JSON and every call is recorded. Faults can be injected into
the next call of a method: an error answer (429 + retry_after, 5xx, 409, 400, 403), a slow answer,
a connection reset, or a proxy's HTML error page; Telegram can be made to deliver an update again.
``flood`` drives many users' questions at once and checks what became of each.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.metrics import percentile

# Parameters that are plain strings even when they look like JSON ("123", "true").
_STRING_PARAMS = {
    "text", "parse_mode", "action", "callback_query_id", "url", "secret_token", "caption",
    "inline_message_id", "language_code", "emoji", "business_connection_id",
}
_TAG = re.compile(r"<[^>]+>")
_MENTION = re.compile(r"@[A-Za-z0-9_]{3,}")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as Telegram counts entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def html_to_text(markup: str) -> str:
    """What a Telegram client shows for an HTML-formatted message (tags dropped, unescaped)."""
    return html.unescape(_TAG.sub("", markup))


def auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram would detect: a leading /command and @mentions."""
    entities = []
    command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))})
    for match in _MENTION.finditer(text):
        if command and match.start() < command.end():
            continue
        offset = utf16_len(text[: match.start()])
        entities.append({"type": "mention", "offset": offset, "length": utf16_len(match.group(0))})
    return entities


@dataclass(frozen=True)
class Call:
    """One request the bot made."""

    seq: int
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() on arrival
    status: int = 200
    result: Any = None


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    delivered_at: dict[int, float] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    next_message_id: dict[int, int] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    confirmed: int = 0
    injected: dict[int, dict[str, Any]] = field(default_factory=dict)
    redelivering: set[int] = field(default_factory=set)
    stalled: int = 0
    # getUpdates calls that have arrived, answered or not: a long poll is recorded as a call
    # only when it returns, up to its timeout later.
    polls: int = 0
    # Documents users sent, by file id.
    files: dict[str, bytes] = field(default_factory=dict)


class FakeBotApi:
    """The fake server; use as a context manager or call ``start()``/``stop()``."""

    def __init__(
        self,
        token: str = "4242:fake-TOKEN-for-tests_only",
        username: str = "citebot_test_bot",
        bot_id: int = 4242,
    ) -> None:
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.port = 0
        self._state = _State()
        self._lock = threading.Condition()
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._new_update: asyncio.Event | None = None
        self._closing = False

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeBotApi:
        """Start serving on a random 127.0.0.1 port in a background thread."""
        started = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start_site())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-bot-api", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake Bot API server did not start")
        return self

    async def _start_site(self) -> None:
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        """Stop the server."""
        if self._loop is not None and self._thread is not None:
            self._closing = True
            if self._new_update is not None:
                # Long polls still open (a stopped bot's last one) end now, not at their timeout.
                self._loop.call_soon_threadsafe(self._new_update.set)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    @property
    def base_url(self) -> str:
        """The value for [telegram] base_url (python-telegram-bot appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for [telegram] base_file_url."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot's User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Citebot",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # --- injecting updates -----------------------------------------------------------------------

    def inject(self, payload: dict[str, Any]) -> int:
        """Queue an update (``payload`` is all but its update_id); returns the update id."""
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **payload}
        with self._lock:
            self._state.updates.append(update)
            self._state.injected[update_id] = update
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)
        return update_id

    def _message_id(self, chat_id: int) -> int:
        with self._lock:
            number = self._state.next_message_id.get(chat_id, 100) + 1
            self._state.next_message_id[chat_id] = number
            return number

    def send_text(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        text: str,
        *,
        reply_to: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        topic_id: int | None = None,
        sender_chat: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """A user sends a text message (on behalf of ``sender_chat`` if given: anonymous admins,
        channels); returns (update id, the message)."""
        message: dict[str, Any] = {
            "message_id": self._message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
        if sender_chat is not None:
            message["sender_chat"] = sender_chat
        found = auto_entities(text) if entities is None else entities
        if found:
            message["entities"] = found
        if topic_id is not None:
            message["message_thread_id"] = topic_id
            message["is_topic_message"] = True
            # Outside explicit replies, a topic's messages reply to the topic's first message.
            message["reply_to_message"] = reply_to or self.topic_root(chat, user, topic_id)
        elif reply_to is not None:
            message["reply_to_message"] = reply_to
        with self._lock:
            self._state.messages[(chat["id"], message["message_id"])] = message
        return self.inject({"message": message}), message

    def send_document(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        file_name: str,
        data: bytes,
        *,
        mime_type: str = "application/octet-stream",
        file_size: int | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """A user sends a file (``file_size`` may claim another size than ``data``'s, as for a
        file too big to download); returns (update id, the message)."""
        with self._lock:
            file_id = f"doc{len(self._state.files) + 1}"
            self._state.files[file_id] = data
        message: dict[str, Any] = {
            "message_id": self._message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "document": {
                "file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name,
                "mime_type": mime_type, "file_size": len(data) if file_size is None else file_size,
            },
        }
        with self._lock:
            self._state.messages[(chat["id"], message["message_id"])] = message
        return self.inject({"message": message}), message

    def topic_root(
        self, chat: dict[str, Any], user: dict[str, Any], topic_id: int
    ) -> dict[str, Any]:
        """The service message that created a forum topic."""
        return {
            "message_id": topic_id,
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "message_thread_id": topic_id,
            "forum_topic_created": {"name": f"Topic {topic_id}", "icon_color": 7322096},
        }

    def press(self, message: dict[str, Any], data: str, user: dict[str, Any]) -> int:
        """A user presses the button with ``data`` under ``message``; returns the update id."""
        query = {
            "id": str(next(self._callback_ids)),
            "from": user,
            "message": message,
            "chat_instance": f"ci{message['chat']['id']}",
            "data": data,
        }
        return self.inject({"callback_query": query})

    # --- observing -------------------------------------------------------------------------------

    def calls(self, method: str | None = None, since: int = 0) -> list[Call]:
        """Recorded calls (of one method), from sequence number ``since`` on."""
        with self._lock:
            return [c for c in self._state.calls[since:] if method is None or c.method == method]

    def polls(self) -> int:
        """How many getUpdates calls have arrived so far (long polls still open included)."""
        with self._lock:
            return self._state.polls

    def wait_for_poll(self, after: int, timeout: float) -> None:
        """Wait until a getUpdates call arrives beyond the first ``after`` (TimeoutError if not)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._state.polls <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no getUpdates call within {timeout} s")
                self._lock.wait(remaining)

    def mark(self) -> int:
        """A sequence number: pass it as ``since`` to look only at later calls."""
        with self._lock:
            return len(self._state.calls)

    def wait_for(
        self,
        method: str,
        where: Callable[[Call], bool] = lambda c: True,
        *,
        since: int = 0,
        timeout: float = 30.0,
        status: int = 200,
    ) -> Call:
        """The first call of ``method`` matching ``where`` (from ``since``), waiting ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for call in self._state.calls[since:]:
                    if call.method == method and call.status == status and where(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.method, c.params.get("chat_id")) for c in self._state.calls[since:]]
                    raise TimeoutError(f"no {method} call within {timeout} s; calls since: {seen}")
                self._lock.wait(remaining)

    def update(self, update_id: int) -> dict[str, Any]:
        """An update as injected."""
        with self._lock:
            return self._state.injected[update_id]

    def answered(self, press: int, status: int = 200, timeout: float = 30.0) -> Call:
        """The bot's answerCallbackQuery for the button press with update id ``press``."""
        query_id = self.update(press)["callback_query"]["id"]
        return self.wait_for(
            "answerCallbackQuery",
            lambda c: c.params.get("callback_query_id") == query_id,
            status=status,
            timeout=timeout,
        )

    def delivered_at(self, update_id: int) -> float | None:
        """When getUpdates first handed the update to the bot (time.monotonic())."""
        with self._lock:
            return self._state.delivered_at.get(update_id)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """A message as the fake server knows it (user's or bot's, after edits)."""
        with self._lock:
            return self._state.messages[(chat_id, message_id)]

    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot."""
        with self._lock:
            return len(self._state.updates)

    def redeliver(self, update_id: int) -> None:
        """Deliver an update again, as Telegram does when it never learned the bot's new offset
        (the bot died between taking the update and its next getUpdates)."""
        with self._lock:
            self._state.updates = sorted(
                [*self._state.updates, self._state.injected[update_id]],
                key=lambda u: u["update_id"],
            )
            # Not even a long poll the dead bot left open confirms it before it is delivered.
            self._state.redelivering.add(update_id)
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)

    def delay_next(self, method: str, seconds: float) -> None:
        """Answer the next call of ``method`` only after ``seconds``; if the bot gave up by then
        (timeout, or it died) the call has no effect and is recorded with status 499."""
        with self._lock:
            self._state.failures.setdefault(method, []).append({"_fault": "delay", "s": seconds})

    def reset_next(self, method: str) -> None:
        """Drop the connection of the next call of ``method`` without answering (status 0)."""
        with self._lock:
            self._state.failures.setdefault(method, []).append({"_fault": "reset"})

    def garble_next(self, method: str) -> None:
        """Answer the next call of ``method`` with a reverse proxy's 502 HTML page that echoes the
        request path, token included, as some proxies do."""
        with self._lock:
            self._state.failures.setdefault(method, []).append({"_fault": "garble"})

    def stalled(self) -> int:
        """Calls that arrived while a ``delay_next`` was pending on them (so far)."""
        with self._lock:
            return self._state.stalled

    def fail_next(self, method: str, retry_after: int) -> None:
        """Answer the next call of ``method`` with 429 Too Many Requests and ``retry_after``."""
        self.refuse_next(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )

    def refuse_next(
        self, method: str, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        """Answer the next call of ``method`` with an error."""
        error: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            error["parameters"] = parameters
        with self._lock:
            self._state.failures.setdefault(method, []).append(error)

    # --- the Bot API -----------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            return {**raw, **body}
        if request.can_read_body:
            raw.update(await request.post())
        params: dict[str, Any] = {}
        for key, value in raw.items():
            value = str(value)
            if key in _STRING_PARAMS:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params

    def _record(self, call: Call) -> None:
        with self._lock:
            self._state.calls.append(call)
            self._lock.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await self._params(request)
        except (ConnectionError, ValueError) as exc:  # the bot went away mid-request
            return _bad_request(f"unreadable request: {exc}")
        arrived = time.monotonic()
        if request.match_info["token"] != self.token:
            self._record(Call(self.mark(), method, params, arrived, 401))
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        with self._lock:
            failures = self._state.failures.get(method)
            error = failures.pop(0) if failures else None
        fault = error.pop("_fault", None) if error is not None else None
        if fault == "delay":
            assert error is not None
            with self._lock:
                self._state.stalled += 1
                self._lock.notify_all()
            until = time.monotonic() + error["s"]
            while time.monotonic() < until and not self._closing and _alive(request):
                await asyncio.sleep(0.05)
            if not _alive(request):
                self._record(Call(self.mark(), method, params, arrived, 499))
                return web.Response(status=499)
        elif fault == "reset":
            self._record(Call(self.mark(), method, params, arrived, 0))
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        elif fault == "garble":
            self._record(Call(self.mark(), method, params, arrived, 502))
            page = f"<html><body>502 Bad Gateway: no upstream for {request.path}</body></html>"
            return web.Response(status=502, text=page, content_type="text/html")
        elif error is not None:
            self._record(Call(self.mark(), method, params, arrived, error["error_code"]))
            return web.json_response(error, status=error["error_code"])
        handler = getattr(self, "_api_" + method.lower(), None)
        if handler is None:
            self._record(Call(self.mark(), method, params, arrived, 404))
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                status=404,
            )
        if method == "getUpdates":
            with self._lock:
                self._state.polls += 1
                self._lock.notify_all()
            result = await handler(params, request)
        else:
            result = handler(params)
        if isinstance(result, web.Response):
            self._record(Call(self.mark(), method, params, arrived, result.status))
            return result
        self._record(Call(self.mark(), method, params, arrived, 200, result))
        return web.json_response({"ok": True, "result": result})

    def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _api_getupdates(
        self, params: dict[str, Any], request: web.Request
    ) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        assert self._new_update is not None
        while True:
            self._new_update.clear()
            with self._lock:
                if offset:
                    # Like Telegram: asking from an offset confirms every earlier update.
                    pending = self._state.updates
                    self._state.updates = [
                        u for u in pending
                        if u["update_id"] >= offset or u["update_id"] in self._state.redelivering
                    ]
                    self._state.confirmed = max(self._state.confirmed, offset - 1)
                batch = self._state.updates[:limit]
                if batch and not _alive(request):
                    return []  # a dead bot's long poll: nobody takes these
                if batch:
                    self._state.redelivering -= {u["update_id"] for u in batch}
                    now = time.monotonic()
                    for update in batch:
                        self._state.delivered_at.setdefault(update["update_id"], now)
                    return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing:
                return []
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                return []

    def _bot_message(self, params: dict[str, Any], chat_id: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat_of(chat_id),
            "from": self.bot_user,
            "text": html_to_text(params.get("text", "")),
        }
        reply = params.get("reply_parameters") or {}
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            with self._lock:
                target = self._state.messages.get((chat_id, int(reply["message_id"])))
            if target is not None:
                target = {k: v for k, v in target.items() if k != "reply_to_message"}
                message["reply_to_message"] = target
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _chat_of(self, chat_id: int) -> dict[str, Any]:
        with self._lock:
            for (cid, _), message in self._state.messages.items():
                if cid == chat_id:
                    return message["chat"]
        return {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        text = params.get("text", "")
        if not html_to_text(text).strip():
            return _bad_request("message text is empty")
        if utf16_len(html_to_text(text)) > 4096:
            return _bad_request("message is too long")
        if params.get("parse_mode") == "HTML" and not _balanced(text):
            return _bad_request("can't parse entities: unbalanced tags")
        chat_id = int(params["chat_id"])
        message = self._bot_message(params, chat_id)
        with self._lock:
            self._state.messages[(chat_id, message["message_id"])] = message
        return message

    def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        text = params.get("text", "")
        if utf16_len(html_to_text(text)) > 4096:
            return _bad_request("message is too long")
        if params.get("parse_mode") == "HTML" and not _balanced(text):
            return _bad_request("can't parse entities: unbalanced tags")
        key = (int(params["chat_id"]), int(params["message_id"]))
        with self._lock:
            message = self._state.messages.get(key)
            if message is None:
                return _bad_request("message to edit not found")
            message = {**message, "text": html_to_text(text), "edit_date": int(time.time())}
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            self._state.messages[key] = message
        return message

    def _api_getfile(self, params: dict[str, Any]) -> dict[str, Any] | web.Response:
        file_id = str(params.get("file_id", ""))
        with self._lock:
            data = self._state.files.get(file_id)
        if data is None:
            return _bad_request("invalid file_id")
        if len(data) > 20 * 1024 * 1024:
            return _bad_request("file is too big")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                "file_path": f"documents/{file_id}"}

    async def _download(self, request: web.Request) -> web.Response:
        """A file's bytes, as Telegram's file server hands them out for ``file_path``."""
        path = request.match_info["path"]
        ok = request.match_info["token"] == self.token and path.startswith("documents/")
        with self._lock:
            data = self._state.files.get(path.removeprefix("documents/")) if ok else None
        status = 200 if data is not None else 404
        self._record(Call(self.mark(), "download", {"path": path}, time.monotonic(), status))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        return True

    def _api_sendchataction(self, params: dict[str, Any]) -> bool:
        return True

    def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        return True

    def _api_deletemycommands(self, params: dict[str, Any]) -> bool:
        return True

    def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        return True

    def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        return True

    def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        pending = self.pending_updates()
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}

    def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    def _api_logout(self, params: dict[str, Any]) -> bool:
        return True


def _alive(request: web.Request) -> bool:
    """Whether the client of ``request`` is still connected."""
    return request.transport is not None and not request.transport.is_closing()


def _bad_request(description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}, status=400
    )


_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "blockquote", "tg-spoiler", "span", "tg-emoji"}


def _balanced(markup: str) -> bool:
    """Whether HTML is well formed the way Telegram insists: known tags, properly nested, and no
    stray ``<`` or ``&``."""
    stack: list[str] = []
    for match in re.finditer(r"<(/?)([a-zA-Z-]+)[^>]*>|<|&(#?\w+;)?", markup):
        if match.group(0) == "<" or (match.group(0).startswith("&") and not match.group(3)):
            return False
        if match.group(0).startswith("&"):
            continue
        closing, name = match.group(1), match.group(2).lower()
        if name not in _ALLOWED_TAGS:
            return False
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


# Helpers to build users and chats for updates.

def user(user_id: int, first_name: str = "Ann", username: str | None = None) -> dict[str, Any]:
    """A User object."""
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        data["username"] = username
    return data


def private_chat(of: dict[str, Any]) -> dict[str, Any]:
    """The private chat with a user."""
    return {"id": of["id"], "type": "private", "first_name": of["first_name"]}


def group_chat(chat_id: int, title: str = "Readers", forum: bool = False) -> dict[str, Any]:
    """A supergroup (a forum when ``forum``)."""
    data: dict[str, Any] = {"id": chat_id, "type": "supergroup", "title": title}
    if forum:
        data["is_forum"] = True
    return data


# Running ``citebot serve`` against the fake server.

REPO = Path(__file__).resolve().parent.parent


def write_bot_config(
    path: Path, api: FakeBotApi, index: Path, state: Path, *,
    index_sources: tuple[str, ...] | None = None, sources: dict[str, Any] | None = None,
    **telegram: Any,
) -> Path:
    """A config file pointing the bot at ``api``, with extra [telegram] keys, the folders the
    index is built from (``index_sources``; a build in the bot keeps only those) and
    [sources] keys."""
    values = {
        "base_url": api.base_url,
        "base_file_url": api.base_file_url,
        "state_path": str(state),
        **telegram,
    }
    lines = ["[index]", f"path = {json.dumps(str(index))}"]
    if index_sources is not None:
        lines.append(f"sources = {json.dumps(list(index_sources))}")
    lines += ["", "[sources]", *(f"{k} = {json.dumps(v)}" for k, v in (sources or {}).items())]
    lines += ["", "[telegram]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class BotProcess:
    """``citebot serve`` as a real subprocess, its output kept in a log file."""

    def __init__(
        self,
        api: FakeBotApi,
        config: Path,
        log_path: Path,
        token: str | None = None,
        debug: bool = False,
    ) -> None:
        self.api = api
        self.config = config
        self.log_path = log_path
        self.token = api.token if token is None else token
        self.debug = debug
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> BotProcess:
        """Start the bot and wait until it polls for updates."""
        polls = self.api.polls()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TELEGRAM_BOT_TOKEN": self.token,
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        command = [sys.executable, "-m", "bot.cli", "serve", "-v", "--config", str(self.config)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command + (["--debug"] if self.debug else []),
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"citebot serve exited with {code}:\n{self.log()[-3000:]}")
            try:
                self.api.wait_for_poll(polls, timeout=0.5)
                return self
            except TimeoutError:
                continue
        self.stop()
        raise TimeoutError(
            f"citebot serve did not start polling within {timeout} s:\n{self.log()[-3000:]}"
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, as a service manager would; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL: the bot dies at once, as in a crash or an out-of-memory kill."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def log(self) -> str:
        """Everything the bot printed so far."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the bot process in MB."""
        assert self.process is not None
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# A flood of questions, and what became of each.

LIMIT_NOTICE = "You're asking faster than I can answer"


@dataclass(frozen=True)
class Asked:
    """One question of a flood: who asked it, its place among that user's questions, when."""

    user_id: int
    number: int
    message: dict[str, Any]
    sent_at: float


@dataclass
class FloodReport:
    """What became of a flood's questions. A user's first ``per_minute`` questions must be
    answered, the next one gets the rate-limit notice, the rest are rate limited silently (the
    notice is sent once a minute, not once per question)."""

    questions: int = 0
    answered: int = 0
    rate_limited: int = 0
    notices: int = 0
    lost: int = 0
    duplicates: int = 0
    over_limit_answered: int = 0
    latencies: dict[int, list[float]] = field(default_factory=dict)  # user id: seconds each

    def percentile(self, fraction: float, users: set[int] | None = None) -> float:
        """A reply latency quantile (seconds from sending to the answer), of ``users`` or all."""
        values = [v for u, vs in self.latencies.items() if users is None or u in users for v in vs]
        return percentile(values, fraction)


def flood(
    api: FakeBotApi,
    askers: list[tuple[dict[str, Any], int]],
    questions: list[str],
    *,
    seconds: float,
    per_minute: int,
    settle_timeout: float = 120.0,
) -> tuple[FloodReport, list[Asked]]:
    """Each (user, n) in ``askers`` sends n questions from their private chat, spread evenly over
    ``seconds`` and interleaved with everyone else's; waits until every question that should be
    answered is, then a second more for duplicates, and reports."""
    plan = []
    for user_index, (sender, count) in enumerate(askers):
        for number in range(count):
            offset = seconds * (number + (user_index % 7) / 7) / max(count, 1)
            plan.append((offset, sender, number))
    plan.sort(key=lambda p: p[0])
    mark = api.mark()
    start = time.monotonic()
    asked: list[Asked] = []
    for offset, sender, number in plan:
        pause = start + offset - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        text = questions[(sender["id"] + number) % len(questions)]
        _, message = api.send_text(private_chat(sender), sender, text)
        asked.append(Asked(sender["id"], number, message, time.monotonic()))
    limit = per_minute or 10**9
    expected = sum(min(count, limit) for _, count in askers)
    notices = sum(count > limit for _, count in askers)
    deadline = time.monotonic() + settle_timeout
    while time.monotonic() < deadline:
        report = _settle(api, asked, mark, limit)
        within = report.answered - report.over_limit_answered
        if within >= expected and report.notices >= notices:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # late duplicates would show up now
    return _settle(api, asked, mark, limit), asked


def _settle(api: FakeBotApi, asked: list[Asked], since: int, limit: int) -> FloodReport:
    replies: dict[tuple[int, int], list[Call]] = {}
    for call in api.calls("sendMessage", since=since):
        target = call.params.get("reply_parameters") or {}
        if call.status == 200 and target.get("message_id") is not None:
            key = (int(call.params["chat_id"]), int(target["message_id"]))
            replies.setdefault(key, []).append(call)
    report = FloodReport(questions=len(asked))
    for question in asked:
        got = replies.get((question.user_id, question.message["message_id"]), [])
        answers = [c for c in got if LIMIT_NOTICE not in c.params["text"]]
        report.notices += len(got) - len(answers)
        report.duplicates += max(0, len(got) - 1)
        if answers:
            report.answered += 1
            report.over_limit_answered += question.number >= limit
            latency = answers[0].at - question.sent_at
            report.latencies.setdefault(question.user_id, []).append(latency)
        elif question.number >= limit:
            report.rate_limited += 1
        else:
            report.lost += 1
    return report
