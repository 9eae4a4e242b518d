"""Candidate search over a vector table: exact below a size, approximate (IVF-PQ) above it.

Exact search is a FAISS ``IndexFlatIP`` over float32 copies of the vectors. Above
``approximate_above`` vectors a flat index is too slow and too big (1M × 384 float32 is 1.5 GB),
so the index is ``IVF<nlist>,PQ<m>x4fs``: 1/8 byte per dimension, a share of the lists probed,
and the best ``refine`` of its candidates re-scored exactly with the stored vectors, which
restores the ranking PQ blurs. The parameters follow from the size; the recall@10 of the result
against exact search is measured at build time and kept in the manifest.

FAISS indexes store rows of the table (ids ascending); results are mapped back to ids here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.manifest import SearchIndexInfo
from index.vectors import VectorTable

if TYPE_CHECKING:
    import faiss

FLAT = "flat"
IVFPQ = "ivfpq"
RECALL_K = 10
RECALL_QUERIES = 300
_ADD_CHUNK = 16_384  # coarse assignment holds chunk x nlist distances: bounds build memory
_MAX_TRAIN = 150_000
_MAX_LISTS = 4096
_MAX_SCANNED = 400_000
_MIN_TRAIN = 16 * 39  # 16 centroids per 4-bit sub-quantizer
# k-means wants this many points per centroid before it trusts the clusters.
_POINTS_PER_CENTROID = 39
_SEED = 1234


def choose_kind(vectors: int, approximate_above: int) -> str:
    """``flat`` up to ``approximate_above`` vectors, ``ivfpq`` beyond."""
    return IVFPQ if vectors > max(0, approximate_above) else FLAT


def ivfpq_parameters(vectors: int, dimensions: int) -> SearchIndexInfo:
    """IVF-PQ parameters for ``vectors`` rows: √n lists, 4-bit fast-scan codes of 4 dimensions.

    The share of the lists probed sets the recall: on synthetic paragraphs made of real MiniLM
    sentence vectors (100k, real SQuAD questions as queries) recall@10 after the exact
    re-scoring is 0.89 probing 1/8 of the lists, 0.94 at 1/4 and 0.957 at 1/3; 27k real vectors need
    less (0.97 at 1/5). A third of the lists is probed, but at most ~``_MAX_SCANNED`` codes,
    which bounds the query time for millions of vectors (there recall drops, and is recorded).
    """
    usable = max(1, vectors // _POINTS_PER_CENTROID)
    nlist = int(min(_MAX_LISTS, usable, max(1, round(math.sqrt(vectors)))))
    m = max(d for d in range(1, max(1, dimensions // 4) + 1) if dimensions % d == 0)
    budget = max(1, _MAX_SCANNED * nlist // max(1, vectors))
    nprobe = int(min(nlist, max(min(32, nlist), min(nlist // 3, budget))))
    return SearchIndexInfo(kind=IVFPQ, nlist=nlist, nprobe=nprobe, pq_m=m, pq_bits=4, refine=200)


def describe(info: SearchIndexInfo) -> str:
    """One-line description of a search index, e.g. for ``citebot index stats``."""
    if info.kind != IVFPQ:
        return info.kind
    return (f"{info.kind} nlist={info.nlist} nprobe={info.nprobe} pq={info.pq_m}x{info.pq_bits}fs "
            f"refine={info.refine}")


def _float32(table: VectorTable, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(table.span(start, stop))


def _training_set(sample: np.ndarray) -> np.ndarray:
    """``sample``, topped up to what 4-bit PQ training needs with slightly jittered copies.

    Only tiny tables (an approximate index forced on a handful of vectors) need this.
    """
    if len(sample) >= _MIN_TRAIN:
        return sample
    copies = np.tile(sample, (-(-_MIN_TRAIN // len(sample)), 1))
    copies += np.random.default_rng(_SEED).normal(0.0, 1e-3, copies.shape).astype(np.float32)
    return copies / np.linalg.norm(copies, axis=1, keepdims=True)


def build_search_index(
    table: VectorTable, approximate_above: int
) -> tuple[faiss.Index, SearchIndexInfo]:
    """Build the candidate-search index for ``table`` (kind chosen by its size)."""
    import faiss

    n, d = len(table), table.dimensions
    if choose_kind(n, approximate_above) == FLAT:
        index: faiss.Index = faiss.IndexFlatIP(d)
        info = SearchIndexInfo(kind=FLAT)
    else:
        info = ivfpq_parameters(n, d)
        quantizer = faiss.IndexFlatIP(d)
        # Fast-scan PQ (4-bit codes, SIMD lookup tables) scans codes about ten times faster
        # than 8-bit PQ at the same bytes per vector; the exact re-scoring makes up its coarseness.
        index = faiss.IndexIVFPQFastScan(quantizer, d, info.nlist, info.pq_m, info.pq_bits,
                                         faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()  # type: ignore[attr-defined]  # SWIG ownership, not in stubs
        wanted = min(n, _MAX_TRAIN, max(info.nlist * 64, 16 * 256))
        sample = np.sort(np.random.default_rng(_SEED).choice(n, size=wanted, replace=False))
        index.cp.seed = _SEED
        # Ten k-means rounds instead of 25: the lists barely move after that, and training
        # time dominates builds of millions of vectors.
        index.cp.niter = 10
        index.train(_training_set(table.take(sample)))
    for start in range(0, n, _ADD_CHUNK):
        index.add(_float32(table, start, min(n, start + _ADD_CHUNK)))
    return index, info


def write_search_index(index: faiss.Index, path: Path) -> None:
    """Write a search index to ``path``."""
    import faiss

    faiss.write_index(index, str(path))


def read_search_index(path: Path) -> faiss.Index:
    """Read a search index memory-mapped (RuntimeError from FAISS when unreadable)."""
    import faiss

    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)


class VectorSearch:
    """Top-k by inner product over a vector table; results are ids, not rows."""

    def __init__(self, index: faiss.Index, table: VectorTable, info: SearchIndexInfo) -> None:
        import faiss

        self.index = index
        self.table = table
        self.info = info
        if info.kind == IVFPQ:
            faiss.extract_index_ivf(index).nprobe = info.nprobe

    @property
    def ntotal(self) -> int:
        """Number of searchable vectors."""
        return int(self.index.ntotal)

    @property
    def d(self) -> int:
        """Dimensions of the vectors."""
        return int(self.index.d)

    def search_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and table rows of the ``k`` best vectors per query (-1 rows pad)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.ntotal)) if self.ntotal else 0
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        if self.info.kind != IVFPQ:
            scores, rows = self.index.search(queries, k)
            return scores, rows
        fetched = min(self.ntotal, max(k, self.info.refine))
        _, candidates = self.index.search(queries, fetched)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for q, found in enumerate(candidates):
            found = np.unique(found[found >= 0])  # ascending rows: fewer, more local page reads
            exact = self.table.take(found) @ queries[q]
            best = np.argsort(-exact, kind="stable")[:k]
            scores[q, : len(best)] = exact[best]
            rows[q, : len(best)] = found[best]
        return scores, rows

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best vectors per query (-1 ids pad), like a FAISS index."""
        scores, rows = self.search_rows(queries, k)
        ids = np.where(rows >= 0, np.asarray(self.table.ids)[np.maximum(rows, 0)], -1)
        return scores, ids.astype(np.int64)


def exact_top_rows(table: VectorTable, queries: np.ndarray, k: int) -> np.ndarray:
    """Rows of the exact ``k`` best vectors per query, by brute force in chunks."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(table))
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(table), _ADD_CHUNK):
        block = _float32(table, start, min(len(table), start + _ADD_CHUNK))
        scores = np.concatenate([best_scores, queries @ block.T], axis=1)
        rows = np.concatenate(
            [best_rows, np.broadcast_to(np.arange(start, start + len(block)),
                                        (len(queries), len(block)))],
            axis=1,
        )
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k] if scores.shape[1] > k else \
            np.broadcast_to(np.arange(scores.shape[1]), (len(queries), scores.shape[1]))
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_rows = np.take_along_axis(rows, keep, axis=1)
    return best_rows


def recall_at_k(search: VectorSearch, queries: np.ndarray, k: int = RECALL_K) -> float:
    """Share of the exact top ``k`` (brute force over the same table) that ``search`` returns."""
    if not len(queries) or not len(search.table):
        return 1.0
    k = min(k, len(search.table))
    exact = exact_top_rows(search.table, queries, k)
    _, found = search.search_rows(queries, k)
    hits = sum(len(set(e.tolist()) & set(f.tolist())) for e, f in zip(exact, found, strict=True))
    return hits / (k * len(queries))


def sample_queries(table: VectorTable, count: int = RECALL_QUERIES) -> np.ndarray:
    """Up to ``count`` stored vectors of ``table`` (fixed seed), as float32 query vectors."""
    if not len(table):
        return np.zeros((0, table.dimensions), dtype=np.float32)
    picked = np.sort(np.random.default_rng(_SEED).choice(len(table), min(count, len(table)),
                                                         replace=False))
    return table.take(picked)
