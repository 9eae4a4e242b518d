"""A bounded, thread-safe memo of each candidate paragraph's terms, kept per served generation.

Scoring a candidate's wording needs its text tokenized sentence by sentence, which is most of a
search's Python time. The same paragraphs come back again and again (follow-ups, popular
articles, a question asked twice), so their terms are kept, least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruMemo(Generic[K, V]):
    """Remembers up to ``size`` computed values; ``size`` 0 remembers nothing."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        """The value for ``key``, computed (outside the lock) only when it is not remembered."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        if self.size:
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)
