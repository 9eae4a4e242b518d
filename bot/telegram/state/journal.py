"""The journal of received Telegram updates: each update is handled once, even across crashes
(see bot/telegram/intake.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

# Telegram keeps an undelivered update for 24 hours, so a handled update id older than this can
# never come back; after a week of silence Telegram may even reuse ids, so they must be dropped.
UPDATE_MEMORY_SECONDS = 48 * 3600.0


class Journal:
    """The updates table; the caller (``StateStore``) holds the transactions."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    def claim(self, update_id: int, payload: str) -> bool:
        """Journal an update before Telegram learns the bot has it; False if it was seen before
        (a redelivery after a crash or a lost offset), so it must not be handled again."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO updates (update_id, payload, received_at) VALUES (?, ?, ?)",
            (update_id, payload, self._clock()),
        )
        return cursor.rowcount > 0

    def finish(self, update_id: int) -> None:
        """Mark an update handled: it is never handled again, and its content is dropped."""
        self._db.execute("UPDATE updates SET payload = NULL WHERE update_id = ?", (update_id,))

    def unfinished(self, max_attempts: int) -> tuple[list[tuple[int, str]], list[int]]:
        """Updates journaled but never handled (the bot died first), to handle now, oldest
        first; and those already retried ``max_attempts`` times, which are given up."""
        rows = self._db.execute(
            "SELECT update_id, payload, attempts FROM updates WHERE payload IS NOT NULL"
            " ORDER BY update_id"
        ).fetchall()
        retry = [(u, p) for u, p, a in rows if a < max_attempts]
        given_up = [u for u, _, a in rows if a >= max_attempts]
        self._db.executemany(
            "UPDATE updates SET attempts = attempts + 1 WHERE update_id = ?",
            [(u,) for u, _ in retry],
        )
        self._db.executemany(
            "UPDATE updates SET payload = NULL WHERE update_id = ?", [(u,) for u in given_up]
        )
        return retry, given_up

    def purge(self) -> None:
        """Forget update ids Telegram can no longer send (nor yet reuse)."""
        self._db.execute(
            "DELETE FROM updates WHERE received_at < ?", (self._clock() - UPDATE_MEMORY_SECONDS,)
        )
