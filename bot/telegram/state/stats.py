"""Question stats for /stats: all-time counts, and latencies over a recent window."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from bot.metrics import percentile

# /stats percentiles look at this many recent questions at most, however busy the window was.
STATS_WINDOW = 1000


@dataclass(frozen=True)
class QuestionStats:
    """What /stats reports: all-time counts, and latency percentiles of recent questions."""

    questions: int
    abstentions: int
    p50_seconds: float
    p95_seconds: float
    since: float | None


class Stats:
    """One row per question (no text) for its latency, kept for ``retention_seconds``, and
    running totals that outlive the rows; the caller (``StateStore``) holds the transactions."""

    def __init__(
        self, db: sqlite3.Connection, retention_seconds: float, clock: Callable[[], float]
    ) -> None:
        self._db = db
        self._retention = retention_seconds
        self._clock = clock

    def log(self, seconds: float, abstained: bool, now: float) -> None:
        """Count one answered question."""
        self._db.execute(
            "INSERT INTO questions (asked_at, seconds, abstained) VALUES (?, ?, ?)",
            (now, seconds, int(abstained)),
        )
        self._db.execute(
            "UPDATE question_totals SET questions = questions + 1,"
            " abstentions = abstentions + ?, since = COALESCE(since, ?) WHERE id = 1",
            (int(abstained), now),
        )

    def summary(self) -> QuestionStats:
        """Totals since the first question, and latency percentiles over the window."""
        total, abstentions, since = self._db.execute(
            "SELECT questions, abstentions, since FROM question_totals WHERE id = 1"
        ).fetchone()
        recent = [
            r[0]
            for r in self._db.execute(
                "SELECT seconds FROM questions WHERE asked_at >= ? ORDER BY rowid DESC LIMIT ?",
                (self._clock() - self._retention, STATS_WINDOW),
            )
        ]
        return QuestionStats(
            questions=total,
            abstentions=abstentions,
            p50_seconds=percentile(recent, 0.5),
            p95_seconds=percentile(recent, 0.95),
            since=since,
        )

    def purge(self) -> None:
        """Drop the rows of questions older than the window (the totals keep counting them)."""
        self._db.execute(
            "DELETE FROM questions WHERE asked_at < ?", (self._clock() - self._retention,)
        )
