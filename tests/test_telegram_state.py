"""The bot's thread store, rate limit, callback data, token redaction, addressing rules and
which Telegram errors mean a chat is gone."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from telegram import Message
from telegram.error import BadRequest, Forbidden, NetworkError

from bot.models import Citation, CitedParagraph, Conversation, Turn
from bot.telegram import buttons
from bot.settings import load_settings
from bot.telegram.addressing import (
    asker,
    command_argument,
    group_question,
    real_reply_target,
    sent_by_bot,
)
from bot.telegram.limits import QuestionLimiter
from bot.telegram.logs import REDACTED, RedactingStream, TokenRedactingFilter
from bot.telegram.messaging import not_modified, stale_button, undeliverable
from bot.telegram.state.answers import citations_from_json
from bot.telegram.state.store import Delivered, StateStore
from bot.telegram.state.threads import (
    Asked,
    conversation_from_json,
    conversation_to_json,
)
from fake_bot_api import FakeBotApi, auto_entities, group_chat, user
from index import ParagraphRef


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _conversation(*questions: str) -> Conversation:
    return Conversation(
        turns=tuple(
            Turn(q, f"{q} (query)", (CitedParagraph(i, f"art{i}", i + 1),), abstained=i % 2 == 1)
            for i, q in enumerate(questions)
        )
    )


CITATION = Citation(
    n=1,
    ref=ParagraphRef(8, "art", 3, "Paragraph text.", "Intro", "Title", "https://x.org",
                     "2024-01-01"),
    score=0.25,
    quotes=((0, 9),),
)


def _asked(chat: int, message_id: int, private: bool = False, reply_to: int | None = None) -> Asked:
    return Asked(chat, 0, message_id, reply_to, private)


def _record(store: StateStore, chat: int, message_id: int, conversation: Conversation,
            thread_id: int | None = None, private: bool = False,
            sent: tuple[int, ...] = ()) -> tuple[int, int]:
    asked = _asked(chat, message_id, private)
    answer_id = store.claim(asked).answer_id
    thread_id = store.record(Delivered(
        asked=asked, thread_id=thread_id, conversation=conversation, answer_id=answer_id,
        citations=(CITATION,), cited=1, sent_message_ids=sent, seconds=0.5, abstained=False,
    ))
    return thread_id, answer_id


def test_conversation_json_round_trip_keeps_every_field() -> None:
    conversation = _conversation("when <b>?", "and then — “why”?")
    assert conversation_from_json(conversation_to_json(conversation)) == conversation


def test_sources_stored_before_citations_still_read() -> None:
    old = ('[{"n": 1, "article_id": "art", "paragraph": 3, "title": "Title", "text": "Paragraph'
           ' text.", "url": "https://x.org", "date": "2024-01-01", "quotes": [[0, 9]]}]')
    (source,) = citations_from_json(old)
    assert (source.n, source.quotes, source.ref.label) == (1, ((0, 9),), "¶4")
    assert source.ref == ParagraphRef(-1, "art", 3, "Paragraph text.", None, "Title",
                                      "https://x.org", "2024-01-01")


def test_threads_follow_message_ids_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bot.sqlite"
    store = StateStore(path, ttl_hours=1)
    thread_a, answer_a = _record(store, -5, 10, _conversation("a1"), sent=(11,))
    store.link_messages(-5, thread_a, [12])
    thread_b, _ = _record(store, -5, 20, _conversation("b1"))
    assert thread_a != thread_b
    store.close()

    store = StateStore(path, ttl_hours=1)
    threads = store.threads
    for message_id in (10, 11, 12):
        found = threads.thread_of_message(-5, message_id)
        assert found is not None and found.thread_id == thread_a
        assert found.conversation == _conversation("a1")
    assert threads.thread_of_message(-5, 20).thread_id == thread_b  # type: ignore[union-attr]
    assert threads.thread_of_message(-6, 10) is None  # message ids are per chat
    stored = store.answer(answer_a)
    assert stored is not None and stored.citations == (CITATION,) and stored.chat_id == -5
    # A reply into a thread continues it; the question's own turn is known to be recorded.
    claim = store.claim(_asked(-5, 10, reply_to=11))
    assert claim.thread is not None and claim.thread.thread_id == thread_a and claim.recorded
    claim = store.claim(_asked(-5, 30, reply_to=11))
    assert claim.thread is not None and not claim.recorded
    assert store.claim(_asked(-5, 31)).thread is None  # groups have no current thread


def test_follow_up_updates_the_thread_and_private_chats_have_a_current_one(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite", ttl_hours=1)
    thread, _ = _record(store, 7, 1, _conversation("q1"), private=True)
    _record(store, 7, 3, _conversation("q1", "q2"), thread_id=thread, private=True)
    current = store.claim(_asked(7, 5, private=True)).thread
    assert current is not None and current.thread_id == thread
    assert [t.question for t in current.conversation.turns] == ["q1", "q2"]
    assert store.forget_current(7, 0)
    assert store.claim(_asked(7, 6, private=True)).thread is None
    assert store.threads.thread_of_message(7, 3) is not None  # replies still reach the old thread


def test_threads_and_answers_expire(tmp_path: Path) -> None:
    clock = Clock()
    store = StateStore(tmp_path / "s.sqlite", ttl_hours=2, clock=clock)
    thread, answer = _record(store, 7, 1, _conversation("q"), private=True)
    clock.now += 3600
    assert store.threads.thread_of_message(7, 1) is not None
    clock.now += 2 * 3600
    assert store.threads.thread_of_message(7, 1) is None
    assert store.threads.current_thread(7, 0) is None
    assert store.answer(answer) is None
    assert store.purge() == 1
    assert store.threads.thread(thread) is None


def test_a_reserved_answer_shows_nothing_until_it_is_recorded(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite", ttl_hours=1)
    first, second = store.claim(_asked(7, 1)), store.claim(_asked(7, 1))
    assert first.answer_id != second.answer_id
    reserved = store.answer(first.answer_id)
    assert reserved is not None and reserved.citations == () and reserved.cited == 0


def test_more_is_shown_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite", ttl_hours=1)
    _, answer = _record(store, 7, 1, _conversation("q"))
    assert store.mark_more_shown(answer)
    assert not store.mark_more_shown(answer)
    assert store.answer(answer).more_shown  # type: ignore[union-attr]


def test_question_stats(tmp_path: Path) -> None:
    clock = Clock()
    store = StateStore(tmp_path / "s.sqlite", ttl_hours=1, clock=clock)
    assert store.question_stats().questions == 0
    for i in range(1, 101):
        _record_stat(store, clock, i / 100, abstained=i % 4 == 0)
    stats = store.question_stats()
    assert (stats.questions, stats.abstentions, stats.since) == (100, 25, 1_000_001.0)
    assert stats.p50_seconds == pytest.approx(0.505, abs=0.01)
    assert stats.p95_seconds == pytest.approx(0.95, abs=0.011)


def test_stats_keep_latencies_for_the_retention_window_and_counts_for_ever(
    tmp_path: Path,
) -> None:
    clock = Clock()
    store = StateStore(tmp_path / "s.sqlite", ttl_hours=1, stats_retention_days=2, clock=clock)
    first = clock.now + 1
    for seconds in (9.0, 9.0, 9.0):  # slow, and abstained, long ago
        _record_stat(store, clock, seconds, abstained=True)
    clock.now += 3 * 86400
    for seconds in (1.0, 2.0, 3.0):
        _record_stat(store, clock, seconds, abstained=False)
    stats = store.question_stats()
    # The old rows are out of the window before they are even purged.
    assert (stats.questions, stats.abstentions, stats.since) == (6, 3, first)
    assert (stats.p50_seconds, stats.p95_seconds) == (2.0, pytest.approx(2.9))
    store.purge()
    assert store.question_stats() == stats
    kept = store._db.execute("SELECT COUNT(*) FROM questions").fetchone()[0]  # noqa: SLF001
    assert kept == 3  # the table does not grow for ever
    clock.now += 3 * 86400
    store.purge()
    empty_window = store.question_stats()
    assert (empty_window.questions, empty_window.p50_seconds) == (6, 0.0)


def _record_stat(store: StateStore, clock: Clock, seconds: float, abstained: bool) -> None:
    clock.now += 1
    store.stats.log(seconds, abstained, clock.now)


def test_rate_limit_is_per_user_and_slides() -> None:
    clock = Clock()
    limiter = QuestionLimiter(2, clock=clock)
    assert limiter.wait_seconds(1) == 0
    clock.now += 10
    assert limiter.wait_seconds(1) == 0
    assert limiter.wait_seconds(1) == 50
    assert limiter.wait_seconds(2) == 0
    clock.now += 50.5
    assert limiter.wait_seconds(1) == 0
    assert QuestionLimiter(0).wait_seconds(1) == 0


def test_refusals_are_explained_once_per_minute() -> None:
    clock = Clock()
    limiter = QuestionLimiter(1, clock=clock)
    told = [limiter.should_tell(1), limiter.should_tell(1), limiter.should_tell(2)]
    assert told == [True, False, True]
    clock.now += 61
    assert limiter.should_tell(1)


def test_callback_data_is_compact_and_rejects_anything_else() -> None:
    data = buttons.encode(buttons.SOURCE, 10**17, 999)
    assert len(data.encode()) <= 64
    assert buttons.decode(data) == buttons.ButtonPress("s", 10**17, 999)
    for forged in (None, "", "s:1", "x:1:0", "s:-1:0", "s:1:0:0", "s:1:a", "s:1:1000", "s:1:0\n"):
        assert buttons.decode(forged) is None


def test_token_is_redacted_from_messages_arguments_and_tracebacks() -> None:
    token = "123:SECRET"
    url = "https://x/bot123:SECRET/getMe"
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "POST %s", (url,), None)
    TokenRedactingFilter(token).filter(record)
    assert record.getMessage() == f"POST https://x/bot{REDACTED}/getMe"
    try:
        raise RuntimeError(f"failed https://x/bot{token}/sendMessage")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    TokenRedactingFilter(token).filter(record)
    formatted = logging.Formatter().format(record)
    assert token not in formatted and REDACTED in formatted


def test_what_reaches_stdout_or_stderr_outside_logging_is_redacted_too() -> None:
    written = io.StringIO()
    stream = RedactingStream(written, "123:SECRET")
    stream.write("Traceback: httpx.ConnectError for https://x/bot123:SECRET/getMe\n")
    stream.flush()
    assert written.getvalue() == f"Traceback: httpx.ConnectError for https://x/bot{REDACTED}/getMe\n"


def test_state_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "citebot.toml"
    config.parent.mkdir()
    config.write_text(
        '[telegram]\nstate_path = "state/bot.sqlite"\nbase_url = "http://localhost/bot"\n',
        encoding="utf-8",
    )
    telegram = load_settings(config).telegram
    assert telegram.state_path == str(config.parent / "state" / "bot.sqlite")
    assert telegram.base_url == "http://localhost/bot"  # a URL, not a path


def test_which_errors_mean_the_chat_is_gone() -> None:
    assert undeliverable(Forbidden("Forbidden: bot was blocked by the user"))
    assert undeliverable(BadRequest("Bad Request: chat not found"))
    assert not undeliverable(BadRequest("Bad Request: can't parse entities"))
    assert not undeliverable(NetworkError("Bad Gateway"))
    assert not_modified(BadRequest("Bad Request: message is not modified: same content"))
    assert not not_modified(BadRequest("Bad Request: message to edit not found"))
    assert stale_button(BadRequest("Bad Request: query is too old and response timeout expired"))
    assert not stale_button(BadRequest("Bad Request: chat not found"))


# --- addressing: which group messages are questions ----------------------------------------

API = FakeBotApi()
BOT_ID, NAME = API.bot_id, API.username
GROUP = group_chat(-100, forum=True)
ANN = user(1, "Ann")


def _message(text: str, **extra: object) -> Message:
    data = {"message_id": 5, "date": 0, "chat": GROUP, "from": ANN, "text": text, **extra}
    data.setdefault("entities", auto_entities(text))
    return Message.de_json(data, None)  # type: ignore[arg-type]


def _bot_message(message_id: int = 3) -> dict[str, object]:
    return {"message_id": message_id, "date": 0, "chat": GROUP, "from": API.bot_user, "text": "a"}


def test_mention_is_stripped_wherever_it_is() -> None:
    def asked(text: str) -> str | None:
        return group_question(_message(text), NAME, BOT_ID)

    assert asked(f"@{NAME} when did it open?") == "when did it open?"
    assert asked(f"When did it open, @{NAME.upper()}?") == "When did it open, ?"
    assert asked("🎉 @" + NAME + " why?") == "🎉 why?"


def test_text_mention_of_the_bot_counts() -> None:
    entity = {"type": "text_mention", "offset": 0, "length": 7, "user": API.bot_user}
    question = group_question(_message("Citebot what is it?", entities=[entity]), NAME, BOT_ID)
    assert question == "what is it?"
    other = {**entity, "user": user(9, "Someone")}
    assert group_question(_message("Someone what is it?", entities=[other]), NAME, BOT_ID) is None


def test_chatter_and_other_mentions_are_ignored() -> None:
    assert group_question(_message("lunch at noon?"), NAME, BOT_ID) is None
    assert group_question(_message("@other_bot what is it?"), NAME, BOT_ID) is None


def test_reply_to_the_bot_is_a_question_but_topic_roots_are_not_replies() -> None:
    reply = _message("and why?", reply_to_message=_bot_message())
    assert group_question(reply, NAME, BOT_ID) == "and why?"
    root = {"message_id": 2, "date": 0, "chat": GROUP, "from": API.bot_user,
            "forum_topic_created": {"name": "t", "icon_color": 1}}
    in_topic = _message(
        "and why?", reply_to_message=root, message_thread_id=2, is_topic_message=True
    )
    assert real_reply_target(in_topic) is None
    assert group_question(in_topic, NAME, BOT_ID) is None


def test_command_argument_drops_the_command_and_bot_name() -> None:
    assert command_argument(_message(f"/ask@{NAME}  When & why?")) == "When & why?"
    assert command_argument(_message("/ask")) == ""


def test_bots_and_copied_channel_posts_are_not_people_but_anonymous_admins_are() -> None:
    other_bot = {"id": 777, "is_bot": True, "first_name": "Echo"}
    assert sent_by_bot(_message("hi", **{"from": other_bot}))
    assert sent_by_bot(_message("news", is_automatic_forward=True,
                                sender_chat={"id": -300, "type": "channel", "title": "N"}))
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    admin = _message("why?", **{"from": anonymous}, sender_chat=GROUP)
    assert not sent_by_bot(admin) and not sent_by_bot(_message("why?"))
    # Rate limits and turns: per person, and per group for its anonymous admins (who all share
    # one bot account across Telegram).
    assert asker(_message("why?")) == ANN["id"]
    assert asker(admin) == GROUP["id"]
