"""The bounded memo that spares re-tokenizing candidate paragraphs."""

from __future__ import annotations

from index.term_cache import LruMemo


def test_memo_computes_once_and_drops_the_least_recently_used() -> None:
    calls: list[int] = []

    def compute(key: int) -> int:
        calls.append(key)
        return key * 10

    memo: LruMemo[int, int] = LruMemo(2)
    assert memo.get(1, lambda: compute(1)) == 10
    assert memo.get(2, lambda: compute(2)) == 20
    assert memo.get(1, lambda: compute(1)) == 10  # remembered; 1 is now the most recent
    assert memo.get(3, lambda: compute(3)) == 30  # drops 2, the least recently used
    assert memo.get(2, lambda: compute(2)) == 20
    assert calls == [1, 2, 3, 2]
    assert len(memo) == 2


def test_size_zero_remembers_nothing() -> None:
    calls: list[str] = []
    memo: LruMemo[str, str] = LruMemo(0)
    for _ in range(3):
        memo.get("a", lambda: calls.append("a") or "A")
    assert calls == ["a", "a", "a"] and len(memo) == 0
