"""Per-user question rate limit (a sliding one-minute window)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class QuestionLimiter:
    """Allows each user ``per_minute`` questions in any 60 seconds; 0 means no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._asked: dict[int, deque[float]] = {}
        self._told: dict[int, float] = {}

    def wait_seconds(self, user_id: int) -> int:
        """0 if ``user_id`` may ask now (and count the question), else whole seconds to wait."""
        if self._per_minute <= 0:
            return 0
        now = self._clock()
        asked = self._asked.setdefault(user_id, deque())
        while asked and asked[0] <= now - WINDOW_SECONDS:
            asked.popleft()
        if len(asked) >= self._per_minute:
            return max(1, math.ceil(asked[0] + WINDOW_SECONDS - now))
        asked.append(now)
        self._forget_idle(now)
        return 0

    def should_tell(self, user_id: int) -> bool:
        """Whether to explain a refusal to ``user_id``: once per window, so a flood of questions
        does not become a flood of notices."""
        now = self._clock()
        if now - self._told.get(user_id, -math.inf) < WINDOW_SECONDS:
            return False
        self._told[user_id] = now
        return True

    def _forget_idle(self, now: float) -> None:
        # Keeps memory bounded by the users active in the last minute.
        if len(self._asked) < 1024:
            return
        idle = now - WINDOW_SECONDS
        for user_id in [u for u, a in self._asked.items() if not a or a[-1] <= idle]:
            del self._asked[user_id]
        for user_id in [u for u, t in self._told.items() if t <= now - WINDOW_SECONDS]:
            del self._told[user_id]
