"""Admins change the index from the chat: /add, files sent to the bot, /remove, /sources; anyone
else is refused. Through the session's one ``citebot serve`` and the fake Bot API
(tests/telegram_bot.py), with pages served on 127.0.0.1; each test leaves the index as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fake_bot_api import BotProcess, Call, FakeBotApi, group_chat, html_to_text, private_chat, user
from pdf_writer import Line, paragraph, pdf_bytes
from telegram_bot import (  # noqa: F401 (fixtures)
    ADMIN,
    api,
    ask,
    bot,
    first_source,
    index_dir,
    reply_to,
)
from web_server import Route, WebServer, article_html

pytestmark = pytest.mark.model

LEFT = 72.0
MILL = (
    "The Eling tide mill on Southampton Water stopped grinding flour commercially in 1946, "
    "and volunteers restored it as a working museum that opened in 1980."
)
TRAMWAY = [
    "The Quarry Hill tramway carried limestone from the hill to the canal wharf in horse-drawn "
    "wagons, running from 1802 until the railway replaced it in 1861.",
    "Its rails were cast iron plates with a raised edge, and a team of two horses could pull "
    "six loaded wagons down the gentle slope to the water.",
]
REFUSED = "Sorry, only the bot's admins can add or remove articles."


def _mill_pdf() -> bytes:
    """Two pages; the answer is on page 2."""
    return pdf_bytes([
        [Line(LEFT, 740, "The Eling Tide Mill", 20),
         *paragraph("Tide mills store the rising tide in a pond behind a dam and release it "
                    "through a water wheel once the tide has turned, grinding grain twice a "
                    "day.", LEFT, 700, 440), Line(300, 40, "1")],
        [*paragraph(MILL, LEFT, 700, 440), Line(300, 40, "2")],
    ])


@pytest.fixture
def server() -> Iterator[WebServer]:
    web = WebServer().start()
    yield web
    web.stop()


def _reply(api: FakeBotApi, message: dict[str, Any], since: int, words: str) -> Call:
    """The bot's reply to ``message`` that holds ``words`` (after any "queued" notice)."""
    def matches(call: Call) -> bool:
        target = call.params.get("reply_parameters") or {}
        return (call.params["chat_id"] == message["chat"]["id"]
                and target.get("message_id") == message["message_id"]
                and words in html_to_text(call.params["text"]))

    return api.wait_for("sendMessage", matches, since=since, timeout=90)


def test_admin_adds_a_page_and_a_file_asks_and_removes_them(
    api: FakeBotApi, bot: BotProcess, server: WebServer
) -> None:
    chat = private_chat(ADMIN)
    # A slow page: the file sent meanwhile waits for its build, and the admin is told so.
    server.routes["/tramway"] = Route(article_html("The Quarry Hill Tramway", TRAMWAY), delay=2)
    page = server.url("/tramway")
    mark = api.mark()
    _, add = api.send_text(chat, ADMIN, f"/add {page}")
    api.wait_for("sendChatAction", lambda c: c.params["chat_id"] == ADMIN["id"], since=mark)
    _, upload = api.send_document(chat, ADMIN, "eling mill.pdf", _mill_pdf(),
                                  mime_type="application/pdf")
    queued = reply_to(api, upload, since=mark)
    assert html_to_text(queued.params["text"]).startswith("Queued:")
    added = html_to_text(_reply(api, add, mark, "Added:").params["text"])
    assert added.startswith("Added: The Quarry Hill Tramway, 2 paragraphs") and page in added
    added = html_to_text(_reply(api, upload, mark, "Added:").params["text"])
    assert added == "Added: The Eling Tide Mill, 2 paragraphs\nupload:eling mill.pdf"

    ann = user(41, "Ann")
    _, answer = ask(api, private_chat(ann), ann, "When did the Eling tide mill stop grinding?")
    assert "1946" in answer.params["text"]
    assert first_source(answer).startswith("1. The Eling Tide Mill · p. 2 · ¶")
    _, answer = ask(api, private_chat(ann), ann, "What did the Quarry Hill tramway carry?")
    assert "limestone" in answer.params["text"]
    assert first_source(answer).startswith("1. The Quarry Hill Tramway")
    assert f'href="{page}#:~:text=' in answer.params["text"]

    listed = ask(api, chat, ADMIN, "/sources")[1].params["text"]
    assert f'• page <a href="{page}">The Quarry Hill Tramway</a> <code>{page}</code> · ' in listed
    assert "• upload The Eling Tide Mill <code>upload:eling mill.pdf</code> · " in listed
    assert listed.count(": added") == 2 and "• folder articles · " in listed
    others = html_to_text(ask(api, private_chat(ann), ann, "/sources")[1].params["text"])
    assert "• upload The Eling Tide Mill · " in others and "upload:" not in others

    for article_id, title in ((page, "The Quarry Hill Tramway"),
                              ("upload:eling mill.pdf", "The Eling Tide Mill")):
        removed = html_to_text(ask(api, chat, ADMIN, f"/remove {article_id}")[1].params["text"])
        assert removed == f"Removed: {title}\n{article_id}"
    _, answer = ask(api, private_chat(ann), ann, "When did the Eling tide mill stop grinding?")
    assert "Eling" not in answer.params["text"]
    listed = ask(api, chat, ADMIN, "/sources")[1].params["text"]
    assert "• upload" not in listed and "• page" not in listed


def test_others_are_refused_and_bad_files_explained(api: FakeBotApi, bot: BotProcess) -> None:
    eve = user(42, "Eve")
    mark = api.mark()
    for text in ("/add https://example.org/a", "/remove upload:x.pdf"):
        assert ask(api, private_chat(eve), eve, text)[1].params["text"] == REFUSED
    _, upload = api.send_document(private_chat(eve), eve, "mill.pdf", _mill_pdf())
    assert reply_to(api, upload, since=mark).params["text"] == REFUSED
    group = group_chat(-1042)
    assert ask(api, group, eve, "/add https://example.org/a")[1].params["text"] == REFUSED
    private_only = ask(api, group, ADMIN, "/add https://example.org/a")[1].params["text"]
    assert private_only == "Please send that to me in a private chat."

    chat = private_chat(ADMIN)
    _, sheet = api.send_document(chat, ADMIN, "budget.xlsx", b"PK\x03\x04")
    assert html_to_text(reply_to(api, sheet, since=mark).params["text"]) == (
        "I can't index .xlsx files; send a PDF, Word (.docx), HTML, Markdown (.md) or text "
        "(.txt) file.")
    _, huge = api.send_document(chat, ADMIN, "scan.pdf", b"%PDF", file_size=30 * 1024 * 1024)
    assert reply_to(api, huge, since=mark).params["text"] == (
        "That file is 30.0 MB; I can take files of up to 20 MB.")
    assert not api.calls("getFile", since=mark) and not api.calls("download", since=mark)
    unknown = ask(api, chat, ADMIN, "/remove upload:nothing.pdf")[1].params["text"]
    assert unknown == ("There is no added page or upload <code>upload:nothing.pdf</code>; "
                       "/sources lists them.")
    assert "/add" in ask(api, chat, ADMIN, "/help")[1].params["text"]
    assert "/add" not in ask(api, private_chat(eve), eve, "/help")[1].params["text"]
