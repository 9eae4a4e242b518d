"""The bot's SQLite state as one object: a question's claim and record, each one transaction.

Used from one thread only (``BotState`` runs it on its worker thread).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.models import Citation, Conversation
from bot.telegram.state.answers import Answers, StoredAnswer
from bot.telegram.state.db import open_database, transaction
from bot.telegram.state.journal import Journal
from bot.telegram.state.stats import QuestionStats, Stats
from bot.telegram.state.threads import Asked, StoredThread, Threads

DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Claim:
    """What a question starts from: the thread it continues, and its answer's id."""

    thread: StoredThread | None
    # The question's own turn is in ``thread`` already: it was answered before the bot died.
    recorded: bool
    # Reserved for the answer, whose buttons name it before it is recorded.
    answer_id: int


@dataclass(frozen=True)
class Delivered:
    """A question whose answer was sent: everything the state keeps of it."""

    asked: Asked
    thread_id: int | None
    conversation: Conversation
    answer_id: int
    # The answer's citations, then its further results (numbered on from them).
    citations: tuple[Citation, ...]
    cited: int
    sent_message_ids: tuple[int, ...]
    seconds: float
    abstained: bool


class StateStore:
    """Threads, answers' sources, question stats and the update journal in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        ttl_hours: float,
        stats_retention_days: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = open_database(path)
        self._clock = clock
        self.threads = Threads(self._db, ttl_hours * 3600.0, clock)
        self.answers = Answers(self._db, ttl_hours * 3600.0, clock)
        self.stats = Stats(self._db, stats_retention_days * DAY_SECONDS, clock)
        self.journal = Journal(self._db, clock)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def claim(self, asked: Asked) -> Claim:
        """The thread a question continues, and a reserved id for its answer."""
        with transaction(self._db):
            thread = self.threads.continued(asked)
            recorded = thread is not None and self.threads.holds(
                thread.thread_id, asked.chat_id, asked.message_id
            )
            answer_id = self.answers.reserve(asked.chat_id, self._clock())
        return Claim(thread, recorded, answer_id)

    def record(self, delivered: Delivered) -> int:
        """Save the thread's conversation, link the question and answer messages to it, keep
        the answer's sources and count the question; returns the thread id."""
        asked, now = delivered.asked, self._clock()
        with transaction(self._db):
            thread_id = self.threads.save(
                asked.chat_id, asked.topic_id, delivered.thread_id, delivered.conversation, now
            )
            self.threads.link(
                asked.chat_id, thread_id, (asked.message_id, *delivered.sent_message_ids)
            )
            if asked.private:
                self.threads.make_current(asked.chat_id, asked.topic_id, thread_id)
            self.answers.save(
                delivered.answer_id, asked.chat_id, thread_id, delivered.cited,
                delivered.citations, now,
            )
            self.stats.log(delivered.seconds, delivered.abstained, now)
        return thread_id

    def link_messages(self, chat_id: int, thread_id: int, message_ids: Sequence[int]) -> None:
        """Remember that the bot's messages belong to a thread, so replies to them follow it."""
        with transaction(self._db):
            self.threads.link(chat_id, thread_id, message_ids)

    def forget_current(self, chat_id: int, topic_id: int) -> bool:
        """Start afresh: the next question of this chat begins a new thread."""
        return self.threads.forget_current(chat_id, topic_id)

    def answer(self, answer_id: int) -> StoredAnswer | None:
        """A live answer's sources."""
        return self.answers.answer(answer_id)

    def mark_more_shown(self, answer_id: int) -> bool:
        """Mark an answer's further results as shown; False if they already were."""
        return self.answers.mark_more_shown(answer_id)

    def question_stats(self) -> QuestionStats:
        """What /stats reports."""
        with transaction(self._db):
            return self.stats.summary()

    def claim_update(self, update_id: int, payload: str) -> bool:
        """Journal an update; False if it was received before (see ``Journal.claim``)."""
        return self.journal.claim(update_id, payload)

    def finish_update(self, update_id: int) -> None:
        """Mark an update handled."""
        self.journal.finish(update_id)

    def unfinished_updates(self, max_attempts: int) -> tuple[list[tuple[int, str]], list[int]]:
        """Updates to handle again after a restart, and those given up (``Journal.unfinished``)."""
        with transaction(self._db):
            return self.journal.unfinished(max_attempts)

    def purge(self) -> int:
        """Delete what has expired; returns how many threads went."""
        with transaction(self._db):
            self.journal.purge()
            self.answers.purge()
            self.stats.purge()
            return self.threads.purge()
