"""Lexical (BM25) retrieval over paragraph texts, persisted next to the vectors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
# Function words carry no evidence of relevance and only slow scoring down.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "were will with".split()
)
_IDS_NAME = "ids.json"


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG, which floods any application that configures logging.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``, stopwords removed."""
    return [t for t in _WORD.findall(text.lower()) if t not in _STOPWORDS]


class LexicalIndex:
    """BM25 scores of paragraphs (identified by paragraph id) for a query."""

    def __init__(self, model: Any, ids: np.ndarray) -> None:
        self._model = model  # None when the index holds no text
        self.ids = ids
        self._position = {int(i): p for p, i in enumerate(ids.tolist())}

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[int]) -> LexicalIndex:
        """Index ``texts``; ``ids[i]`` identifies ``texts[i]``."""
        bm25s = _bm25s()
        if len(texts) != len(ids):
            raise ValueError("texts and ids differ in length")
        model = None
        if texts:
            model = bm25s.BM25()
            model.index([tokenize(t) for t in texts], show_progress=False)
        return cls(model, np.asarray(ids, dtype=np.int64))

    def save(self, directory: Path) -> None:
        """Write the index into ``directory`` (created if needed)."""
        directory.mkdir(parents=True, exist_ok=True)
        if self._model is not None:
            self._model.save(str(directory), show_progress=False)
        (directory / _IDS_NAME).write_text(json.dumps(self.ids.tolist()), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by ``save``."""
        bm25s = _bm25s()
        ids = np.asarray(json.loads((directory / _IDS_NAME).read_text(encoding="utf-8")), np.int64)
        model = None
        if len(ids):
            model = bm25s.BM25.load(str(directory), show_progress=False)
            if model.scores["num_docs"] != len(ids):
                raise ValueError(f"{directory}: BM25 holds {model.scores['num_docs']} documents")
        return cls(model, ids)

    def _all_scores(self, query: str) -> np.ndarray:
        tokens = tokenize(query)
        if self._model is None or not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (paragraph id, score) pairs with a positive score, best first."""
        scores = self._all_scores(query)
        if k <= 0 or not len(scores):
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def score(self, query: str, ids: Sequence[int]) -> np.ndarray:
        """BM25 scores of the given paragraph ids (0 for unknown ids)."""
        scores = self._all_scores(query)
        return np.array(
            [scores[self._position[int(i)]] if int(i) in self._position else 0.0 for i in ids],
            dtype=np.float32,
        )
