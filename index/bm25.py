"""Lexical (BM25) index over paragraph texts: inverted postings in flat numpy arrays.

Postings are stored term by term (CSC-like): ``indptr[t]:indptr[t+1]`` slices ``rows`` (the
documents holding term ``t``) and ``weights`` (their BM25 term-frequency part, without the idf).
Everything is numpy arrays saved as ``.npy`` plus a JSON vocabulary, so a million paragraphs
cost a few hundred MB at most and load without any Python object per posting.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from index.diskarray import DiskArray
from index.lexical_tokens import TOKENIZER_VERSION, tokenize
from index.vectors import positions_in

__all__ = ["LexicalIndex", "QueryTerms", "tokenize"]

FORMAT_VERSION = 1
# Tuned on SQuAD v1.1 dev (closed corpus of Wikipedia paragraphs); the usual 1.2/0.75 is within
# 0.002 R@1 of it, so these are not fragile.
DEFAULT_K1 = 0.9
DEFAULT_B = 0.4

_PARAMS = "params.json"
_VOCAB = "vocab.json"
_ARRAYS = ("ids", "lengths", "indptr", "rows", "weights")
_POSTINGS = ("rows", "weights")
# Above this many paragraphs, ``top`` bounds the k-th best score from a 1-in-_SAMPLE_STEP sample.
_SAMPLE_ABOVE = 65_536
_SAMPLE_STEP = 16


class LexicalFormatError(ValueError):
    """A lexical index written by another version of citebot (format or tokenizer)."""


@dataclass(frozen=True)
class QueryTerms:
    """A query's distinct terms with their idf (terms absent from the corpus get the top idf)."""

    terms: tuple[str, ...]
    idf: np.ndarray
    # Adjacent term pairs of the query (stop words skipped), weighted by their summed idf.
    bigrams: tuple[tuple[str, str], ...]
    bigram_idf: np.ndarray

    # Cached: every candidate paragraph of the query is measured against the same values.
    @cached_property
    def mass(self) -> float:
        """Total idf of the query's terms: the denominator of coverage."""
        return float(self.idf.sum())

    @cached_property
    def weight(self) -> dict[str, float]:
        """The idf of each term."""
        return dict(zip(self.terms, self.idf.tolist(), strict=True))

    @cached_property
    def pair_weights(self) -> tuple[tuple[tuple[str, str], float], ...]:
        """Each adjacent term pair with its weight."""
        return tuple(zip(self.bigrams, self.bigram_idf.tolist(), strict=True))

    @cached_property
    def pair_mass(self) -> float:
        """Total weight of the query's term pairs: the denominator of the phrase signal."""
        return float(self.bigram_idf.sum())


class TermStatistics:
    """A corpus's terms with their document frequencies: the idf that lexical signals weigh by.

    Every engine has them (``index.storage.LexicalSearch``), whoever ranks its BM25 candidates.
    """

    def __init__(self, vocab: list[str], df: np.ndarray, documents: int) -> None:
        self.vocab = vocab
        self.term_id = {term: i for i, term in enumerate(vocab)}
        self.df = df
        n = documents
        df64 = np.asarray(df).astype(np.float64)
        self.idf = np.log1p((n - df64 + 0.5) / (df64 + 0.5)).astype(np.float32)
        # idf of a term no document holds: the most a query term can weigh.
        self.unseen_idf = float(math.log1p((n + 0.5) / 0.5))

    def document_frequencies(self) -> np.ndarray:
        """How many paragraphs hold each term of ``vocab``."""
        return np.asarray(self.df)

    def query_terms(self, query: str) -> QueryTerms:
        """The distinct terms of ``query`` with their idf, and its adjacent term pairs."""
        tokens = tokenize(query)
        terms = tuple(dict.fromkeys(tokens))
        idf = np.array([self._idf(t) for t in terms], dtype=np.float32)
        bigrams = tuple(dict.fromkeys(pairwise(tokens)))
        bigram_idf = np.array([self._idf(a) + self._idf(b) for a, b in bigrams], dtype=np.float32)
        return QueryTerms(terms, idf, bigrams, bigram_idf)

    def _idf(self, term: str) -> float:
        tid = self.term_id.get(term)
        return self.unseen_idf if tid is None else float(self.idf[tid])


class _AllScores:
    """BM25 candidates of one query, with every paragraph's score kept for the pool's signal."""

    def __init__(self, index: LexicalIndex, scores: np.ndarray, k: int) -> None:
        self._index = index
        self._scores = scores
        self.top = index.top(scores, k)

    def scores(self, ids: Sequence[int], texts: Sequence[str]) -> np.ndarray:
        """BM25 score of each paragraph id (0 for ids this index lacks); ``texts`` are unused."""
        rows = self._index.rows_of(ids)
        out = np.zeros(len(ids), dtype=np.float32)
        out[rows >= 0] = self._scores[rows[rows >= 0]]
        return out


class LexicalIndex(TermStatistics):
    """BM25 scores of paragraphs (identified by paragraph id) for a query."""

    def __init__(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        vocab: list[str],
        indptr: np.ndarray,
        rows: np.ndarray | DiskArray,
        weights: np.ndarray | DiskArray,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> None:
        super().__init__(vocab, np.diff(indptr), len(ids))
        self.ids = ids
        self.lengths = lengths
        self.indptr = indptr
        self.rows = rows
        self.weights = weights
        self.k1 = k1
        self.b = b
        self._order = np.argsort(ids, kind="stable")
        self._sorted_ids = ids[self._order]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        ids: Sequence[int],
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> LexicalIndex:
        """Index ``texts``; ``ids[i]`` identifies ``texts[i]``."""
        if len(texts) != len(ids):
            raise ValueError("texts and ids differ in length")
        term_id: dict[str, int] = {}
        terms, docs, counts = array("i"), array("i"), array("i")
        lengths = np.zeros(len(texts), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = tokenize(text)
            lengths[row] = len(tokens)
            for term, count in Counter(tokens).items():
                terms.append(term_id.setdefault(term, len(term_id)))
                docs.append(row)
                counts.append(count)
        term_arr = np.frombuffer(terms, dtype=np.int32)
        order = np.argsort(term_arr, kind="stable")  # rows stay ascending within a term
        rows = np.frombuffer(docs, dtype=np.int32)[order].copy()
        tf = np.frombuffer(counts, dtype=np.int32)[order].astype(np.float32)
        indptr = np.zeros(len(term_id) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_arr, minlength=len(term_id)), out=indptr[1:])
        avg = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
        norm = k1 * (1.0 - b + b * lengths / avg)
        weights = (tf * (k1 + 1.0) / (tf + norm[rows])).astype(np.float32)
        vocab = sorted(term_id, key=term_id.__getitem__)
        return cls(np.asarray(ids, dtype=np.int64), lengths, vocab, indptr, rows, weights, k1, b)

    def save(self, directory: Path) -> None:
        """Write the index into ``directory`` (created if needed)."""
        directory.mkdir(parents=True, exist_ok=True)
        params = {"format": FORMAT_VERSION, "tokenizer": TOKENIZER_VERSION, "k1": self.k1,
                  "b": self.b, "documents": len(self.ids), "terms": len(self.vocab)}
        (directory / _PARAMS).write_text(json.dumps(params), encoding="utf-8")
        vocab = json.dumps(self.vocab, ensure_ascii=False)
        (directory / _VOCAB).write_text(vocab, encoding="utf-8")
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by ``save`` (ValueError when it is of another format)."""
        params = json.loads((directory / _PARAMS).read_text(encoding="utf-8"))
        if params.get("format") != FORMAT_VERSION or params.get("tokenizer") != TOKENIZER_VERSION:
            raise LexicalFormatError(
                f"lexical index format {params.get('format')}, tokenizer "
                f"{params.get('tokenizer')}; this citebot reads format {FORMAT_VERSION}, "
                f"tokenizer {TOKENIZER_VERSION}"
            )
        vocab = json.loads((directory / _VOCAB).read_text(encoding="utf-8"))
        # Nothing is read up front: ids, lengths and the term offsets are memory-mapped, and a
        # query reads only its terms' postings (``DiskArray``), so memory does not grow with
        # the corpus and processes share the page cache.
        arrays: dict[str, Any] = {
            n: DiskArray(directory / f"{n}.npy") if n in _POSTINGS
            else np.load(directory / f"{n}.npy", mmap_mode="r", allow_pickle=False)
            for n in _ARRAYS
        }
        if (len(arrays["ids"]) != params["documents"] or len(vocab) != params["terms"]
                or len(arrays["lengths"]) != len(arrays["ids"])
                or len(arrays["indptr"]) != len(vocab) + 1
                or not len(arrays["rows"]) == len(arrays["weights"]) == int(arrays["indptr"][-1])):
            raise ValueError(f"{directory}: lexical index files are inconsistent")
        return cls(vocab=vocab, k1=float(params["k1"]), b=float(params["b"]), **arrays)

    def candidates(self, query: str, k: int) -> _AllScores:
        """The ``k`` best paragraphs for ``query``, and the BM25 score of any paragraph."""
        return _AllScores(self, self.all_scores(query), k)

    def all_scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed paragraph, rows aligned with ``ids``."""
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for term in dict.fromkeys(tokenize(query)):
            tid = self.term_id.get(term)
            if tid is not None:
                start, end = self.indptr[tid], self.indptr[tid + 1]
                # A term's postings name each document once, so fancy-index += is exact.
                scores[self._postings(self.rows, start, end)] += (
                    self.idf[tid] * self._postings(self.weights, start, end)
                )
        return scores

    @staticmethod
    def _postings(array: np.ndarray | DiskArray, start: int, end: int) -> np.ndarray:
        return array.slice(start, end) if isinstance(array, DiskArray) else array[start:end]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (paragraph id, score) pairs with a positive score, best first."""
        return self.top(self.all_scores(query), k)

    def top(self, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (paragraph id, score) pairs of ``all_scores`` output, positive only.

        Best first; among equal scores the lower paragraph id first, the cut included.
        """
        if k <= 0 or not len(scores):
            return []
        bound = self._bound(scores, k)
        rows = np.flatnonzero(scores >= bound) if bound > 0 else np.flatnonzero(scores > 0)
        values = scores[rows]
        if len(rows) > k:
            # Select among the rows that can still make the top k: at a million paragraphs a
            # partition of every score costs more than the scoring itself.
            # Negated, so the k best are the k smallest: numpy's selection is slow towards the
            # far end of an array with many equal values (here, zeros).
            kth = -np.partition(-values, k - 1)[k - 1]
            above = rows[values > kth]
            tied = rows[values == kth]
            tied = tied[np.argsort(self.ids[tied], kind="stable")[: k - len(above)]]
            rows = np.concatenate([above, tied])
        rows = rows[np.lexsort((self.ids[rows], -scores[rows]))]
        return [(int(self.ids[i]), float(scores[i])) for i in rows]

    @staticmethod
    def _bound(scores: np.ndarray, k: int) -> float:
        """A score the ``k`` best all reach: the k-th best of a sample (0 for small arrays)."""
        # Any subset's k-th best is at most the whole array's, so nothing of the top k is lost;
        # a 1-in-16 sample leaves about 16k rows to partition instead of every match.
        if len(scores) < _SAMPLE_ABOVE or len(scores) // _SAMPLE_STEP < k:
            return 0.0
        return float(-np.partition(-scores[::_SAMPLE_STEP], k - 1)[k - 1])

    def score(self, query: str, ids: Sequence[int]) -> np.ndarray:
        """BM25 scores of the given paragraph ids (0 for unknown ids)."""
        rows = self.rows_of(ids)
        out = np.zeros(len(rows), dtype=np.float32)
        if (rows >= 0).any():
            out[rows >= 0] = self.all_scores(query)[rows[rows >= 0]]
        return out

    def rows_of(self, ids: Sequence[int]) -> np.ndarray:
        """Row of each paragraph id in this index (-1 for unknown ids)."""
        at = positions_in(self._sorted_ids, ids)
        rows = np.full(len(at), -1, dtype=np.int64)
        rows[at >= 0] = self._order[at[at >= 0]]
        return rows
