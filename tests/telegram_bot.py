"""The Telegram tests' shared bot: ``citebot serve`` as one subprocess for the whole session, over
the sample articles with the real model, talking to a fake Bot API server; and helpers to talk to
it. Test modules import the fixtures they use from here."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.logs import REDACTED
from fake_bot_api import REPO, BotProcess, Call, FakeBotApi, html_to_text, user, write_bot_config
from index import IndexSettings, KnowledgeBaseSettings, build_index

ADMIN = user(1000, "Ada", "ada")
# The chats these tests use (users 11-49 and 500-599, groups -1001 to -1049) are allowed; 99 and
# -2000 are not.
ALLOWED_CHATS = [ADMIN["id"], *range(11, 50), *range(500, 600), *range(-1049, -1000)]
PER_MINUTE = 4
HOSTILE_FIXTURE = REPO / "tests" / "fixtures" / "telegram"
SOURCES = (str(REPO / "examples" / "articles"), str(HOSTILE_FIXTURE))
INDUCED = "7f3a-induced-failure"  # in the error Telegram returns, so in the bot's log
# Short, so that tests of slow Bot API answers are quick.
REQUEST_TIMEOUT = 2.0

# PyTest makes a fixture imported into several modules one fixture per module, each set up once
# per session; these hold the one index, server and bot that all of them hand out.
_shared: dict[str, Any] = {}
_users: Counter[str] = Counter()


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """The sample articles and the HTML-hostile fixture, indexed once."""
    if "index" not in _shared:
        path = tmp_path_factory.mktemp("bot-index") / "index"
        settings = KnowledgeBaseSettings(index=IndexSettings(path=str(path), sources=SOURCES))
        build_index(settings, embedder=embedder)
        _shared["index"] = path
    path: Path = _shared["index"]
    return path


@pytest.fixture(scope="session")
def api() -> Iterator[FakeBotApi]:
    if "api" not in _shared:
        _shared["api"] = FakeBotApi().start()
    _users["api"] += 1
    yield _shared["api"]
    _users["api"] -= 1
    if not _users["api"]:
        _shared.pop("api").stop()


@pytest.fixture(scope="session")
def bot(
    api: FakeBotApi, index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    """One bot process for every Telegram test, logging at DEBUG with every Bot API request
    (the crash test restarts it at INFO)."""
    if "bot" not in _shared:
        _shared["bot"] = _start_bot(api, index_dir, tmp_path_factory.mktemp("bot"))
    _users["bot"] += 1
    yield _shared["bot"]
    _users["bot"] -= 1
    if not _users["bot"]:
        _check_stop(api, _shared.pop("bot"))


def _start_bot(api: FakeBotApi, index_dir: Path, folder: Path) -> BotProcess:
    config = write_bot_config(
        # A relative state path is relative to the config file, not to the bot's working folder.
        folder / "citebot.toml", api, index_dir, Path("state") / "bot.sqlite",
        admin_users=[ADMIN["id"]], allowed_chats=ALLOWED_CHATS, questions_per_minute=PER_MINUTE,
        refresh_seconds=1, request_timeout_seconds=REQUEST_TIMEOUT, index_sources=SOURCES,
        # Admins /add pages that tests serve on 127.0.0.1.
        sources={"allow_private_networks": True, "host_delay_seconds": 0, "timeout_seconds": 10},
    )
    process = BotProcess(api, config, folder / "bot.log", debug=True).start()
    assert (folder / "state" / "bot.sqlite").is_file()
    return process


def _check_stop(api: FakeBotApi, process: BotProcess) -> None:
    assert process.stop() == 0  # SIGTERM is a graceful shutdown
    log = process.log()
    assert api.token not in log  # never logged, not even by httpx or in errors quoting URLs
    assert f"/bot{REDACTED}/getUpdates" in log  # the DEBUG phase did log the request URLs
    # The one traceback expected is the failure test_errors_get_an_apology provokes; Telegram's
    # faults are logged in one line each.
    tracebacks = re.findall(r"^Traceback.*?(?=^\d{4}-\d\d-\d\d |\Z)", log, re.M | re.S)
    assert len(tracebacks) <= 1 and all(INDUCED in t for t in tracebacks), tracebacks


def ask(api: FakeBotApi, chat: dict[str, Any], sender: dict[str, Any], text: str,
        timeout: float = 60.0, **kwargs: Any) -> tuple[dict[str, Any], Call]:
    """Send a message and wait for the bot's message replying to it."""
    mark = api.mark()
    _, question = api.send_text(chat, sender, text, **kwargs)
    return question, reply_to(api, question, since=mark, timeout=timeout)


def reply_to(api: FakeBotApi, question: dict[str, Any], since: int, timeout: float = 60.0) -> Call:
    """The bot's message sent in reply to ``question``."""
    chat_id = question["chat"]["id"]

    def answers(call: Call) -> bool:
        target = call.params.get("reply_parameters") or {}
        same_chat = call.params["chat_id"] == chat_id
        return same_chat and target.get("message_id") == question["message_id"]

    return api.wait_for("sendMessage", answers, since=since, timeout=timeout)


def sent(api: FakeBotApi, call: Call) -> dict[str, Any]:
    """The message the fake server made of a sendMessage call."""
    return api.message(call.params["chat_id"], call.result["message_id"])


def buttons(api: FakeBotApi, call: Call) -> dict[str, str]:
    """Button text → callback data of a sent message."""
    rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def first_quote(call: Call) -> str:
    """The first quoted line of an answer."""
    return html_to_text(call.params["text"]).splitlines()[0]


def first_source(call: Call) -> str:
    """The first line of an answer's source list."""
    lines = html_to_text(call.params["text"]).splitlines()
    return lines[lines.index("Sources") + 1]


def assert_silent(api: FakeBotApi, message: dict[str, Any], since: int) -> None:
    """The bot did not answer ``message`` (given a second to do so)."""
    time.sleep(1.0)
    for call in api.calls("sendMessage", since=since):
        target = call.params.get("reply_parameters") or {}
        same_chat = call.params["chat_id"] == message["chat"]["id"]
        replied = same_chat and target.get("message_id") == message["message_id"]
        assert not replied, call.params["text"]




def replies(api: FakeBotApi, question: dict[str, Any]) -> list[Call]:
    """Every message the bot delivered in reply to ``question``."""
    chat_id, message_id = question["chat"]["id"], question["message_id"]
    return [
        c for c in api.calls("sendMessage")
        if c.status == 200 and c.params["chat_id"] == chat_id
        and (c.params.get("reply_parameters") or {}).get("message_id") == message_id
    ]
