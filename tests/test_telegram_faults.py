"""Telegram faults, hostile messages and the bot's security rules, end to end (the shared bot of
tests/telegram_bot.py): after each fault the bot keeps serving, and nobody gets what they
shouldn't."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.telegram.logs import REDACTED
from fake_bot_api import (
    BotProcess,
    FakeBotApi,
    auto_entities,
    group_chat,
    html_to_text,
    private_chat,
    user,
)
from telegram_bot import (  # noqa: F401 (fixtures)
    ADMIN,
    REQUEST_TIMEOUT,
    api,
    ask,
    bot,
    buttons,
    index_dir,
    replies,
    sent,
)

pytestmark = pytest.mark.model

TYRE = "Who patented the pneumatic tyre?"
GONE_BOT = {"id": 777, "is_bot": True, "first_name": "Echo", "username": "echo_bot"}
# Telegram's account behind anonymous group admins: a bot, but people write through it.
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                   "username": "GroupAnonymousBot"}


def wait_quiet(api: FakeBotApi, messages: list[dict[str, Any]], sentinel_user: int) -> None:
    """Assert the bot answered none of ``messages``: it answered a question sent after them."""
    someone = user(sentinel_user, "Sam")
    ask(api, private_chat(someone), someone, "/help")
    time.sleep(0.5)
    for message in messages:
        assert not replies(api, message), message.get("text")


# --- Telegram faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "user_id"),
    [("500", 40), ("reset", 41), ("slow", 42), ("proxy page", 43)],
)
def test_failed_sends_are_retried_and_answered_once(
    api: FakeBotApi, bot: BotProcess, fault: str, user_id: int
) -> None:
    if fault == "500":
        api.refuse_next("sendMessage", 500, "Internal Server Error")
    elif fault == "reset":
        api.reset_next("sendMessage")
    elif fault == "slow":
        api.delay_next("sendMessage", REQUEST_TIMEOUT + 1.5)  # the bot stops waiting first
    else:
        api.garble_next("sendMessage")
    mark = api.mark()
    someone = user(user_id, "Ann")
    question, call = ask(api, private_chat(someone), someone, TYRE)
    assert "Dunlop" in call.params["text"]
    tries = [c.status for c in api.calls("sendMessage", since=mark)
             if c.params["chat_id"] == user_id]
    assert len(tries) == 2 and tries.count(200) == 1  # the failed try, then the answer
    time.sleep(0.3)
    assert len(replies(api, question)) == 1
    if fault == "proxy page":
        log = bot.log()
        # The proxy's page quotes the request URL; the bot logs it, token redacted.
        assert f"no upstream for /bot{REDACTED}/sendMessage" in log
        assert api.token not in log


def test_polling_survives_a_conflict_and_a_bad_gateway(api: FakeBotApi, bot: BotProcess) -> None:
    api.refuse_next(
        "getUpdates", 409,
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
        "is running",
    )
    api.refuse_next("getUpdates", 502, "Bad Gateway")
    someone = user(44, "Ann")
    ask(api, private_chat(someone), someone, TYRE)  # its long poll was open: the next ones fail
    mark = api.mark()
    _, call = ask(api, private_chat(someone), someone, "Who discovered penicillin?")
    assert "Fleming" in call.params["text"]
    polls = api.calls("getUpdates")
    assert {409, 502} <= {c.status for c in polls}
    assert api.calls("getUpdates", since=mark)  # and polling went on
    assert "409 Conflict" in bot.log()


@pytest.mark.parametrize(
    ("status", "description", "logged", "chat"),
    [
        (403, "Forbidden: bot was kicked from the supergroup chat",
         "Forbidden: bot was kicked from the supergroup chat", group_chat(-1010)),
        (400, "Bad Request: chat not found", "Chat not found", private_chat(user(45, "Ann"))),
    ],
)
def test_chats_the_bot_cannot_write_to_are_logged_not_apologised_to(
    api: FakeBotApi,
    bot: BotProcess,
    status: int,
    description: str,
    logged: str,
    chat: dict[str, Any],
) -> None:
    sender = user(45, "Ann")
    prefix = f"@{api.username} " if chat["id"] < 0 else ""
    api.refuse_next("sendMessage", status, description)
    mark = api.mark()
    _, lost = api.send_text(chat, sender, prefix + TYRE)
    refused = api.wait_for("sendMessage", lambda c: c.params["chat_id"] == chat["id"],
                           since=mark, status=status)
    wait_quiet(api, [lost], sentinel_user=46)
    assert not [c for c in api.calls("sendMessage", since=refused.seq + 1)
                if c.params["chat_id"] == chat["id"]]  # no apology into the void
    assert f"cannot write to the chat: {logged}" in bot.log()
    _, call = ask(api, chat, sender, prefix + "Who discovered penicillin?")  # re-added: served
    assert "Fleming" in call.params["text"]


def test_a_second_context_press_and_a_stale_press_are_not_errors(
    api: FakeBotApi, bot: BotProcess
) -> None:
    ann = user(47, "Ann")
    _, answer = ask(api, private_chat(ann), ann, "When did French soldiers find the Rosetta Stone?")
    mark = api.mark()
    first = api.press(sent(api, answer), buttons(api, answer)["Source 1"], ann)
    shown = api.wait_for("sendMessage", since=mark)
    api.refuse_next(
        "editMessageText", 400,
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
    )
    press = api.press(sent(api, shown), buttons(api, shown)["Context"], ann)
    assert "text" not in api.answered(press).params  # no "something went wrong"
    # A press acknowledged too late (Telegram allows seconds): the paragraph is still shown.
    api.answered(first)  # so that the refusal below is for the next press
    api.refuse_next(
        "answerCallbackQuery", 400,
        "Bad Request: query is too old and response timeout expired or query id is invalid",
    )
    mark = api.mark()
    press = api.press(sent(api, answer), buttons(api, answer)["Source 1"], ann)
    assert api.wait_for("sendMessage", since=mark).params["text"] == shown.params["text"]
    api.answered(press, status=400)
    time.sleep(0.3)
    assert not [c for c in api.calls("answerCallbackQuery", since=mark) if c.status == 200]
    assert "Query is too old" in bot.log()


# --- hostile messages ------------------------------------------------------------------------


def test_hostile_messages_are_answered_or_ignored_and_the_bot_keeps_serving(
    api: FakeBotApi, bot: BotProcess
) -> None:
    people = iter(user(i, "Ann") for i in range(530, 560))

    def private(text: str) -> str:
        sender = next(people)
        return ask(api, private_chat(sender), sender, text)[1].params["text"]

    long_question = (TYRE + " ") * 200
    assert "Dunlop" in private(long_question[:4096])
    rtl = "متى عُثر على حجر رشيد؟ מתי נמצאה אבן רוזטה?"
    markdown = "*bold* _it_ [x](javascript:alert(1)) `code` <i>hi</i> &amp; </blockquote>"
    for text in ("🤔🤔🤔", rtl, "../../../etc/passwd", markdown):
        assert private(text)  # an answer or an abstention, in HTML the fake server accepted
    assert "<a href='x'>" not in private("<b>Who</b> patented the <a href='x'>tyre</a>?")
    assert "new conversation" in private("/new ../../etc/passwd; rm -rf /")
    assert "articles</b>" in private("/sources %s%n<b>")
    assert "Only the bot's admins" in private("/stats <script>alert(1)</script>")
    assert "I don't know that command" in private("/frobnicate now")
    assert "I answer questions" in private("/start \u202eevil-payload")

    group = group_chat(-1011)
    ann = user(48, "Ann")
    assert "Ask me a question" in ask(api, group, ann, f"@{api.username}")[1].params["text"]
    # Anonymous admins write through a bot account on behalf of the group: they are people.
    _, anonymous = api.send_text(
        group, ANONYMOUS_ADMIN, f"@{api.username} {TYRE}", sender_chat=group
    )
    quiet = []
    _, message = api.send_text(group, ann, "/frobnicate")  # another bot's command
    quiet.append(message)
    _, message = api.send_text(group, GONE_BOT, f"@{api.username} {TYRE}")  # bots never
    quiet.append(message)
    edited = {"message_id": 9001, "date": 1, "edit_date": 2, "chat": private_chat(ann),
              "from": ann, "text": f"/ask {TYRE}", "entities": auto_entities("/ask")}
    api.inject({"edited_message": edited})  # "/ask" must not be answered once per edit
    channel = {"id": -1020, "type": "channel", "title": "News"}
    post = {"message_id": 5, "date": 1, "chat": channel, "sender_chat": channel,
            "text": f"@{api.username} {TYRE}"}
    api.inject({"channel_post": post})
    quiet += [edited, post]
    wait_quiet(api, quiet, sentinel_user=49)
    deadline = time.monotonic() + 30
    while not replies(api, anonymous):
        assert time.monotonic() < deadline, "the anonymous admin got no answer"
        time.sleep(0.1)
    assert "Dunlop" in replies(api, anonymous)[0].params["text"]
    # Nothing anyone sent became a file: the state folder holds the bot's database only.
    state = bot.config.parent / "state"
    assert {p.name.split("-")[0] for p in state.iterdir()} == {"bot.sqlite"}


# --- security --------------------------------------------------------------------------------


def test_admin_commands_are_refused_to_others_in_groups_too(
    api: FakeBotApi, bot: BotProcess
) -> None:
    group, bob = group_chat(-1012), user(38, "Bob")
    refused = ask(api, group, bob, f"/stats@{api.username}")[1].params["text"]
    assert "Only the bot's admins" in refused
    stats = ask(api, group, ADMIN, f"/stats@{api.username}")[1].params["text"]
    assert "<b>Questions</b>" in stats


def test_buttons_outside_the_allow_list_show_nothing(api: FakeBotApi, bot: BotProcess) -> None:
    ann = user(39, "Ann")
    _, answer = ask(api, private_chat(ann), ann, "Who discovered penicillin?")
    data = buttons(api, answer)["Source 1"]
    stranger_chat = group_chat(-2000, "Elsewhere")
    # A message in a chat the bot does not serve, carrying a real answer's button.
    message = {**sent(api, answer), "chat": stranger_chat}
    mark = api.mark()
    api.press(message, data, user(99, "Sam"))
    notice = api.wait_for("answerCallbackQuery", lambda c: "text" in c.params, since=mark)
    assert "not available" in notice.params["text"]
    time.sleep(0.3)
    assert not api.calls("sendMessage", since=mark)


def test_answers_quote_the_article_never_the_question_as_html(
    api: FakeBotApi, bot: BotProcess
) -> None:
    ann = user(37, "Ann")
    _, call = ask(api, private_chat(ann), ann, "What is the capital of <b>Australia</b>?")
    assert "<b>Australia</b>" not in call.params["text"]
    assert html_to_text(call.params["text"])  # parsed by the fake server's strict HTML check
