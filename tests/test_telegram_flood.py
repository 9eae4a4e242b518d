"""The bot under a flood of questions, and after a crash (the shared bot of tests/telegram_bot.py).
benchmarks/flood.py runs the full-size flood (500 questions from 50 users) and prints the bot's
memory; this one is small enough for every test run."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from bot.telegram.messaging import TYPING_AFTER
from bot.telegram.state.store import StateStore
from fake_bot_api import (
    LIMIT_NOTICE,
    BotProcess,
    FakeBotApi,
    flood,
    group_chat,
    private_chat,
    user,
)
from telegram_bot import (  # noqa: F401 (fixtures)
    PER_MINUTE,
    api,
    ask,
    bot,
    first_quote,
    index_dir,
    replies,
    sent,
)

pytestmark = pytest.mark.model

QUESTIONS = [
    "When was the Rosetta Stone found?",
    "Who deciphered the hieroglyphs?",
    "Who discovered penicillin?",
    "How many eggs can a queen bee lay in a day?",
    "What does the waggle dance tell other bees?",
    "Who patented the pneumatic tyre?",
    "Why was the velocipede called a boneshaker?",
    "What is the capital of Australia?",
]


def test_flood_every_question_is_answered_or_rate_limited_exactly_once(
    api: FakeBotApi, bot: BotProcess
) -> None:
    mark = api.mark()
    quiet = [(user(500 + i, f"U{i}"), PER_MINUTE) for i in range(12)]
    noisy = (user(520, "Noisy"), 16)
    report, asked = flood(api, [*quiet, noisy], QUESTIONS, seconds=3.0, per_minute=PER_MINUTE)
    assert report.questions == 12 * PER_MINUTE + 16
    assert report.lost == 0 and report.duplicates == 0 and report.over_limit_answered == 0
    assert report.answered == 13 * PER_MINUTE
    assert report.rate_limited == 16 - PER_MINUTE
    # One polite notice for the noisy user, not one per question: replies to a flood would
    # themselves flood the chat and Telegram's rate limits.
    notices = [c for a in asked if a.user_id == 520 for c in replies(api, a.message)
               if LIMIT_NOTICE in c.params["text"]]
    assert report.notices == len(notices) == 1
    # "typing…" is shared by a chat's waiting questions, never one chat action per question:
    # one indicator loop per chat, whose first action comes TYPING_AFTER after it starts, so a
    # chat's actions are never closer together than that, however slow the answers are.
    actions: dict[tuple[Any, Any], list[float]] = {}
    for call in api.calls("sendChatAction", since=mark):
        key = (call.params["chat_id"], call.params.get("message_thread_id"))
        actions.setdefault(key, []).append(call.at)
    gaps = [b - a for times in actions.values() for a, b in itertools.pairwise(sorted(times))]
    assert min(gaps, default=TYPING_AFTER) >= TYPING_AFTER * 0.9


def test_a_crash_neither_loses_nor_repeats_an_answer_and_threads_survive(
    api: FakeBotApi, bot: BotProcess
) -> None:
    group, ann, bob = group_chat(-1005, "Readers"), user(33, "Ann"), user(34, "Bob")
    mark = api.mark()
    first_id, first = api.send_text(group, ann, f"@{api.username} Who discovered penicillin?")
    api.wait_for("sendMessage", lambda c: c.params["chat_id"] == group["id"], since=mark)
    # Bob's answer is on its way to Telegram when the bot is killed.
    stalled = api.stalled()
    api.delay_next("sendMessage", 60)
    _, pending = api.send_text(private_chat(bob), bob, "Who patented the pneumatic tyre?")
    deadline = time.monotonic() + 30
    while api.stalled() == stalled:
        assert time.monotonic() < deadline, "the bot never sent Bob's answer"
        time.sleep(0.05)
    bot.kill()
    # And Telegram never learned that the bot had taken Ann's question: it delivers it again.
    api.redeliver(first_id)
    mark = api.mark()
    bot.debug = False  # the rest of the session logs at INFO
    bot.start()
    answer = api.wait_for("sendMessage", lambda c: c.params["chat_id"] == bob["id"], since=mark)
    assert "Dunlop" in answer.params["text"]
    [first_answer] = replies(api, first)  # answered once, not again after the restart
    _, follow = ask(api, group, ann, "When did he get the Nobel Prize?",
                    reply_to=sent(api, first_answer))
    assert "1945" in first_quote(follow)  # the thread survived the crash
    assert len(replies(api, pending)) == 1  # answered after the restart, once
    state = StateStore(bot.config.parent / "state" / "bot.sqlite", ttl_hours=1)
    bobs = state.threads.current_thread(bob["id"], 0)
    state.close()
    assert bobs is not None and len(bobs.conversation.turns) == 1  # his question counted once
    assert len(replies(api, first)) == 1
    assert f"update {first_id} delivered again" in bot.log()
