"""End to end: ``citebot serve`` as a subprocess, over the sample articles with the real model,
talking to a fake Bot API server (tests/telegram_bot.py). Nothing of python-telegram-bot is
mocked."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from fake_bot_api import BotProcess, FakeBotApi, group_chat, html_to_text, private_chat, user
from index import IndexSettings, KnowledgeBaseSettings, build_index
from telegram_bot import (  # noqa: F401 (fixtures)
    ADMIN,
    INDUCED,
    SOURCES,
    api,
    ask,
    assert_silent,
    bot,
    buttons,
    first_quote,
    first_source,
    index_dir,
    sent,
)

pytestmark = pytest.mark.model

LIGHTHOUSE = {
    "id": "bell-rock-lighthouse",
    "title": "The Bell Rock Lighthouse",
    "date": "2024-06-01",
    "paragraphs": [
        "The Bell Rock Lighthouse stands on a reef eleven miles off the coast of Angus in "
        "Scotland. Robert Stevenson completed it in 1810, and it is the oldest surviving "
        "sea-washed lighthouse in the world.",
    ],
}


# --- private chats -------------------------------------------------------------------------


def test_private_question_gets_a_cited_html_answer(api: FakeBotApi, bot: BotProcess) -> None:
    ann = user(11, "Ann")
    _, call = ask(api, private_chat(ann), ann, "When did French soldiers find the Rosetta Stone?")
    params = call.params
    assert params["parse_mode"] == "HTML"
    assert params["link_preview_options"] == {"is_disabled": True}
    text = params["text"]
    assert text.startswith("<blockquote>“") and "1799" in text
    assert "<b>Sources</b>\n1. The Rosetta Stone · 2024-03-02 · ¶" in text
    assert "Source 1" in buttons(api, call)


def test_source_button_shows_the_full_paragraph_context_and_more(
    api: FakeBotApi, bot: BotProcess
) -> None:
    ann = user(12, "Ann")
    _, answer = ask(api, private_chat(ann), ann, "When did French soldiers find the Rosetta Stone?")
    answer_message = sent(api, answer)
    mark = api.mark()
    api.press(answer_message, buttons(api, answer)["Source 1"], ann)
    shown = api.wait_for("sendMessage", since=mark)
    full = html_to_text(shown.params["text"])
    assert "French soldiers found the stone in July 1799" in full
    assert "reported it to his superiors." in full  # the whole paragraph, not just the quote
    assert api.wait_for("answerCallbackQuery", since=mark).params.get("text") is None

    mark = api.mark()
    api.press(sent(api, shown), buttons(api, shown)["Context"], ann)
    edited = api.wait_for("editMessageText", since=mark)
    context = html_to_text(edited.params["text"])
    assert "weighs roughly 760 kg" in context  # the paragraph before
    assert "French soldiers found the stone" in context
    assert "Capitulation of Alexandria" in context  # the paragraph after
    assert "reply_markup" not in edited.params

    mark = api.mark()
    api.press(answer_message, buttons(api, answer)["More results"], ann)
    more = api.wait_for("sendMessage", since=mark)
    assert more.params["text"].startswith("<b>More results</b>\n\n2. ")
    assert more.params["reply_parameters"]["message_id"] == answer_message["message_id"]
    assert "Source 2" in buttons(api, more)
    mark = api.mark()
    api.press(answer_message, buttons(api, answer)["More results"], ann)
    notice = api.wait_for("answerCallbackQuery", lambda c: "text" in c.params, since=mark)
    assert notice.params["text"] == "Already shown above."


def test_forged_and_foreign_buttons_reveal_nothing(api: FakeBotApi, bot: BotProcess) -> None:
    ann, eve = user(13, "Ann"), user(14, "Eve")
    _, answer = ask(api, private_chat(ann), ann, "Who found the Rosetta Stone?")
    data = buttons(api, answer)["Source 1"]
    _, eves = ask(api, private_chat(eve), eve, "What is a draisine?")
    mark = api.mark()
    # Eve replays Ann's callback data under her own message, and makes some up.
    for forged in (data, "s:99999999:0", data.rsplit(":", 1)[0] + ":7", "not ours"):
        api.press(sent(api, eves), forged, eve)
    for _ in range(4):
        notice = api.wait_for("answerCallbackQuery", lambda c: "text" in c.params, since=mark)
        assert "expired" in notice.params["text"]
        mark = notice.seq + 1
    time.sleep(0.5)
    assert not api.calls("sendMessage", since=mark)


def test_abstains_when_the_articles_do_not_say(api: FakeBotApi, bot: BotProcess) -> None:
    ann = user(15, "Ann")
    _, call = ask(api, private_chat(ann), ann, "What is the capital of Australia?")
    assert call.params["text"].startswith("I couldn't find an answer")


def test_small_talk_gets_a_plain_reply_and_keeps_the_thread(
    api: FakeBotApi, bot: BotProcess
) -> None:
    ann = user(26, "Ann")
    chat = private_chat(ann)
    _, hello = ask(api, chat, ann, "hi")
    assert hello.params["text"].startswith("Hello!") and "<blockquote>" not in hello.params["text"]
    assert "Sources" not in hello.params["text"] and buttons(api, hello) == {}
    ask(api, chat, ann, "Who discovered penicillin?")
    _, thanks = ask(api, chat, ann, "thanks!")
    assert thanks.params["text"].startswith("You&#x27;re welcome") and buttons(api, thanks) == {}
    _, follow = ask(api, chat, ann, "When did he get the Nobel Prize?")
    assert "1945" in first_quote(follow)
    group, bob = group_chat(-1021, "Readers"), user(27, "Bob")
    _, greeted = ask(api, group, bob, f"@{api.username} hello!")
    assert greeted.params["text"].startswith("Hello!")


def test_html_hostile_question_and_article(api: FakeBotApi, bot: BotProcess) -> None:
    ann = user(16, "Ann")
    question = "What does the <b>harbour kiosk</b> menu board read? & <script>x</script>"
    _, call = ask(api, private_chat(ann), ann, question)
    text = call.params["text"]  # the fake server rejects malformed HTML, so it parsed
    assert "&lt;script&gt;alert(&#x27;chips&#x27;)&lt;/script&gt;" in text
    assert "Salt &amp; Vinegar" in text or "&lt;b&gt;" in text
    assert "Fish &amp; Chips &lt;b&gt;Guide&lt;/b&gt;" in text
    # The link opens at the quote; the quote's markup is percent-encoded inside it.
    link = re.search(r'<a href="https://example\.org/food\?dish=fish&amp;side=chips#:~:text=([^"]+)">', text)
    assert link is not None
    terms = link.group(1).split(",")  # text=start,end
    assert len(terms) <= 2 and not any(set(term) & set("<>&'\" -") for term in terms)
    assert "<script>" not in text


def test_follow_up_in_private_continues_the_conversation_and_new_forgets(
    api: FakeBotApi, bot: BotProcess
) -> None:
    ann = user(17, "Ann")
    chat = private_chat(ann)
    ask(api, chat, ann, "Who discovered penicillin?")
    _, follow = ask(api, chat, ann, "When did he get the Nobel Prize?")
    assert "1945" in first_quote(follow)
    _, done = ask(api, chat, ann, "/new")
    assert "new conversation" in done.params["text"]


def test_a_429_is_waited_out(api: FakeBotApi, bot: BotProcess) -> None:
    ann = user(18, "Ann")
    api.fail_next("sendMessage", retry_after=1)
    mark = api.mark()
    _, call = ask(api, private_chat(ann), ann, "Who patented the pneumatic tyre?")
    refused = api.calls("sendMessage", since=mark)[0]
    assert refused.status == 429
    assert call.at - refused.at >= 1.0
    assert "Dunlop" in call.params["text"]


def test_errors_get_an_apology_never_a_traceback(api: FakeBotApi, bot: BotProcess) -> None:
    ann = user(20, "Ann")
    api.refuse_next("sendMessage", 400, f"Bad Request: {INDUCED}")
    _, call = ask(api, private_chat(ann), ann, "Who patented the pneumatic tyre?")
    assert call.params["text"].startswith("Sorry, something went wrong while answering.")
    assert INDUCED in bot.log()  # logged with its context


def test_questions_are_rate_limited_per_user(api: FakeBotApi, bot: BotProcess) -> None:
    ann = user(19, "Ann")
    question = "Who patented a hive with removable frames?"
    chat = private_chat(ann)
    texts = [ask(api, chat, ann, f"{question} {i}")[1].params["text"] for i in range(5)]
    assert all("Sources" in t for t in texts[:4])
    assert "Please ask again in" in texts[4]
    mark = api.mark()
    _, sixth = api.send_text(private_chat(ann), ann, "Who patented a hive with removable frames?")
    ask(api, private_chat(ann), ann, "/help")  # commands are not limited; answered after the 6th
    assert_silent(api, sixth, mark)  # one notice per minute, not one per question


def test_chats_outside_the_allow_list_are_turned_away(api: FakeBotApi, bot: BotProcess) -> None:
    stranger = user(99, "Sam")
    _, call = ask(api, private_chat(stranger), stranger, "When was the Rosetta Stone found?")
    assert call.params["text"] == "Sorry, this bot is not available in this chat."
    group, bob = group_chat(-2000, "Elsewhere"), user(21, "Bob")
    mark = api.mark()
    _, question = api.send_text(group, bob, f"@{api.username} When was the Rosetta Stone found?")
    ask(api, private_chat(bob), bob, "/help")  # answered after the group message was handled
    assert_silent(api, question, mark)


# --- groups ----------------------------------------------------------------------------------


def test_group_answers_mentions_and_ask_and_ignores_chatter(
    api: FakeBotApi, bot: BotProcess
) -> None:
    group, bob = group_chat(-1001, "Readers"), user(21, "Bob")
    mark = api.mark()
    _, chatter = api.send_text(group, bob, "lunch at noon? the Rosetta Stone exhibit is on")
    _, other_bot = api.send_text(group, bob, "/ask@other_bot When was the Rosetta Stone found?")
    question = f"@{api.username} When did French soldiers find the Rosetta Stone?"
    _, mention = ask(api, group, bob, question)
    assert "1799" in mention.params["text"]
    _, command = ask(api, group, bob, f"/ask@{api.username} Who patented the pneumatic tyre?")
    assert "Dunlop" in command.params["text"]
    _, plain = ask(api, group, bob, "/ask Who built the first two-wheeled machine?")
    assert "Karl Drais" in plain.params["text"]
    assert_silent(api, chatter, mark)
    assert_silent(api, other_bot, mark)


def test_group_text_mention_is_a_question(api: FakeBotApi, bot: BotProcess) -> None:
    group, bob = group_chat(-1002, "Readers"), user(22, "Bob")
    entity = {"type": "text_mention", "offset": 0, "length": 7, "user": api.bot_user}
    _, call = ask(api, group, bob, "Citebot what is the Rosetta Stone made of?", entities=[entity])
    assert "granodiorite" in call.params["text"]


def test_parallel_threads_in_a_group_are_kept_apart(api: FakeBotApi, bot: BotProcess) -> None:
    group = group_chat(-1003, "Readers")
    ann, bob = user(23, "Ann"), user(24, "Bob")
    _, ann_answer = ask(api, group, ann, f"@{api.username} Who discovered penicillin?")
    bees = f"@{api.username} Who worked out the meaning of the bee dance?"
    _, bob_answer = ask(api, group, bob, bees)
    assert "Fleming" in ann_answer.params["text"] and "Frisch" in bob_answer.params["text"]
    # The same follow-up, as a reply in each thread. On its own it is about the bee researcher
    # (see the last assertion), so Ann getting Fleming's prize shows her thread's history counted.
    follow_up = "When did he get the Nobel Prize?"
    _, ann_follow = ask(api, group, ann, follow_up, reply_to=sent(api, ann_answer))
    _, bob_follow = ask(api, group, bob, follow_up, reply_to=sent(api, bob_answer))
    assert "1945" in first_quote(ann_follow) and "Penicillin" in first_source(ann_follow)
    assert "1973" in first_quote(bob_follow) and "Honeybee" in first_source(bob_follow)
    _, fresh = ask(api, group, ann, f"@{api.username} When did he get the Nobel Prize?")
    assert "1973" in first_quote(fresh)


def test_forum_topic_answers_go_to_the_topic(api: FakeBotApi, bot: BotProcess) -> None:
    forum, bob = group_chat(-1004, "Forum", forum=True), user(25, "Bob")
    _, call = ask(api, forum, bob, f"@{api.username} Who patented the pneumatic tyre?", topic_id=77)
    assert call.params["message_thread_id"] == 77 and "Dunlop" in call.params["text"]


# --- commands --------------------------------------------------------------------------------


def test_commands(api: FakeBotApi, bot: BotProcess) -> None:
    commands = api.calls("setMyCommands")[0].params["commands"]
    assert {c["command"] for c in commands} >= {"start", "help", "ask", "new", "sources"}
    ann = user(31, "Ann")
    chat = private_chat(ann)
    assert "In a group" in ask(api, chat, ann, "/start")[1].params["text"]
    assert "/ask" in ask(api, chat, ann, "/help")[1].params["text"]
    sources = ask(api, chat, ann, "/sources")[1].params["text"]
    assert re.search(r"<b>\d+ articles</b>", sources) and "The Rosetta Stone" in sources
    assert "admins" in ask(api, chat, ann, "/stats")[1].params["text"]
    stats = ask(api, private_chat(ADMIN), ADMIN, "/stats")[1].params["text"]
    assert re.search(r"<b>Questions</b>: [1-9]", stats) and "p95" in stats


def test_a_newly_built_index_is_served_without_restart(
    api: FakeBotApi, bot: BotProcess, index_dir: Path, embedder: Any, tmp_path: Path
) -> None:
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "lighthouse.jsonl").write_text(json.dumps(LIGHTHOUSE) + "\n", encoding="utf-8")
    sources = (*SOURCES, str(extra))
    settings = KnowledgeBaseSettings(index=IndexSettings(path=str(index_dir), sources=sources))
    build_index(settings, embedder=embedder)
    ann = user(32, "Ann")
    deadline = time.monotonic() + 30
    while "Bell Rock" not in ask(api, private_chat(ann), ann, "/sources")[1].params["text"]:
        assert time.monotonic() < deadline, "the bot never switched to the new index"
        time.sleep(0.5)
    _, call = ask(api, private_chat(ann), ann, "Who completed the Bell Rock Lighthouse?")
    assert "The Bell Rock Lighthouse" in first_source(call)
