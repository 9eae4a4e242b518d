"""Reading a Milvus generation: its manifest and shard reports, candidates and rows by id."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from index.bm25 import DEFAULT_B, DEFAULT_K1, TermStatistics
from index.errors import IndexCorrupt, IndexMismatch
from index.lexical_tokens import tokenize
from index.manifest import FORMAT_VERSION, REBUILD_HINT, Manifest, check_compatible
from index.milvus_schema import Milvus
from index.models import ArticleInfo, ParagraphRef
from index.storage import SentenceRow

if TYPE_CHECKING:
    from index.embed import Embedder

_CHUNK = 1_000  # ids per "in [...]" query


@dataclass(frozen=True)
class ShardReport:
    """What one shard of a build wrote; its row in the meta collection means the shard is done."""

    shard: int
    shards: int
    base: str | None
    articles: int
    paragraphs: int
    sentences: int
    tokens: int
    max_row: int
    max_paragraph_id: int
    max_sentence_id: int
    manifest: dict[str, Any]


def _meta(milvus: Milvus, generation: str, kind: str) -> list[dict[str, Any]]:
    name = milvus.collection(generation, "meta")
    if not milvus.call(partial(milvus.client.has_collection, name)):
        raise IndexCorrupt(f"generation {generation} is missing from {milvus.where}; "
                           f"{REBUILD_HINT}")
    milvus.load(name)
    return milvus.query(name, f'kind == "{kind}"', ["key", "shard", "data"])


def read_reports(milvus: Milvus, generation: str) -> list[ShardReport]:
    """The reports of the generation's finished shards, by shard."""
    rows = _meta(milvus, generation, "shard")
    return sorted((ShardReport(**json.loads(r["data"])) for r in rows), key=lambda r: r.shard)


def read_manifest(milvus: Milvus, generation: str) -> Manifest:
    """The generation's manifest; ``IndexCorrupt`` before it was published."""
    rows = _meta(milvus, generation, "manifest")
    where = f"generation {generation} in {milvus.where}"
    if not rows:
        raise IndexCorrupt(f"{where} was never published; {REBUILD_HINT}")
    try:
        data = json.loads(rows[0]["data"])
        version = int(data["format_version"])
        if version == FORMAT_VERSION:
            return Manifest.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorrupt(f"the manifest of {where} is corrupt ({exc}); {REBUILD_HINT}") from None
    raise IndexMismatch(
        f"{where} has format version {version} but this citebot reads version "
        f"{FORMAT_VERSION}; {REBUILD_HINT}"
    )


class MilvusVectors:
    """Inner-product search over one collection's vectors (an ``index.storage.CandidateSearch``)."""

    def __init__(
        self, milvus: Milvus, name: str, ntotal: int, kind: str, owner: str | None = None
    ) -> None:
        self._milvus = milvus
        self._name = name
        self._ntotal = ntotal
        self._params: dict[str, Any] = {"metric_type": "IP"}
        if kind == "milvus-hnsw":
            self._params["params"] = {"ef": 128}
        self._owner = owner
        # The ``owner`` field of the last search's hits (a sentence's paragraph), which the
        # caller asks for next: returned with the hits, it saves a round trip per query.
        self.owners: dict[int, int] = {}

    @property
    def ntotal(self) -> int:
        """Number of searchable vectors."""
        return self._ntotal

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best vectors per query (-1 ids pad)."""
        params = dict(self._params)
        if "params" in params:
            params["params"] = {"ef": max(k, 128)}
        fields = ["id"] if self._owner is None else ["id", self._owner]
        results = self._milvus.call(partial(
            self._milvus.client.search, self._name, data=np.asarray(queries).tolist(),
            anns_field="vector", limit=k, search_params=params, output_fields=fields,
        ))
        scores = np.zeros((len(queries), k), dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        owners: dict[int, int] = {}
        for q, hits in enumerate(results):
            for j, hit in enumerate(hits[:k]):
                scores[q, j], ids[q, j] = float(hit["distance"]), int(hit["id"])
                if self._owner is not None:
                    owners[int(hit["id"])] = int(_field(hit, self._owner))
        self.owners = owners  # replaced whole: a concurrent reader sees one search's or none
        return scores, ids


def _field(hit: dict[str, Any], name: str) -> Any:
    """An output field of a search hit (pymilvus nests them under ``entity``)."""
    return hit["entity"][name] if "entity" in hit and name in hit["entity"] else hit[name]


class _MilvusCandidates:
    """Milvus's BM25 candidates of a query; citebot's own BM25 scores them for fusion."""

    def __init__(self, lexical: MilvusLexical, query: str, top: list[tuple[int, float]]) -> None:
        self._lexical = lexical
        self._query = query
        self.top = top

    def scores(self, ids: Sequence[int], texts: Sequence[str]) -> np.ndarray:
        """citebot's BM25 of each paragraph from its text and the corpus's term statistics."""
        lex = self._lexical
        terms = [t for t in dict.fromkeys(tokenize(self._query)) if t in lex.term_id]
        out = np.zeros(len(ids), dtype=np.float32)
        if not terms:
            return out
        k1, b = np.float32(DEFAULT_K1), np.float32(DEFAULT_B)
        for i, text in enumerate(texts):
            tokens = tokenize(text)
            counts = Counter(tokens)
            norm = k1 * (np.float32(1.0) - b + b * np.float32(len(tokens)) / lex.average_length)
            for term in terms:
                tf = np.float32(counts.get(term, 0))
                if tf:
                    out[i] += lex.idf[lex.term_id[term]] * (tf * (k1 + 1) / (tf + norm))
        return out


class MilvusLexical(TermStatistics):
    """Term statistics of a generation, with BM25 candidates from Milvus's BM25 function."""

    def __init__(
        self, milvus: Milvus, name: str, df: Counter[str], documents: int, tokens: int
    ) -> None:
        vocab = sorted(df)
        super().__init__(vocab, np.array([df[t] for t in vocab], dtype=np.int64), documents)
        self._milvus = milvus
        self._name = name
        self.average_length = np.float32(tokens / documents if documents and tokens else 1.0)

    def candidates(self, query: str, k: int) -> _MilvusCandidates:
        """The ``k`` best paragraphs of ``query`` by Milvus's BM25."""
        return _MilvusCandidates(self, query, self.search(query, k))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (paragraph id, score) pairs by Milvus's BM25, best first."""
        if k <= 0 or not tokenize(query):  # nothing but stop words: nothing to match
            return []
        results = self._milvus.call(partial(
            self._milvus.client.search, self._name, data=[query], anns_field="sparse", limit=k,
            search_params={"metric_type": "BM25"}, output_fields=["id"],
        ))
        return [(int(hit["id"]), abs(float(hit["distance"]))) for hit in results[0]]


def _term_statistics(milvus: Milvus, generation: str, reports: list[ShardReport]) -> MilvusLexical:
    df: Counter[str] = Counter()
    for row in _meta(milvus, generation, "terms"):
        df.update({term: int(n) for term, n in json.loads(row["data"])})
    return MilvusLexical(
        milvus, milvus.collection(generation, "paragraphs"), df,
        sum(r.paragraphs for r in reports), sum(r.tokens for r in reports),
    )


def _text(value: str) -> str | None:
    """Milvus has no NULL in these fields: an empty string stands for none."""
    return value or None


class MilvusGeneration:
    """One opened, read-only Milvus generation (an ``index.storage.StoredGeneration``)."""

    _ROW_FIELDS = ["id", "article_id", "number", "text", "section", "title", "url", "date"]

    def __init__(self, milvus: Milvus, generation: str, manifest: Manifest,
                 lexical: MilvusLexical) -> None:
        self._milvus = milvus
        self._generation = generation
        self.manifest = manifest
        self.lexical = lexical
        self._names = {kind: milvus.collection(generation, kind)
                       for kind in ("paragraphs", "sentences", "articles")}
        paged = "page" in milvus.fields(self._names["paragraphs"])
        self._row_fields = [*self._ROW_FIELDS, "page"] if paged else self._ROW_FIELDS
        self.paragraph_index = MilvusVectors(milvus, self._names["paragraphs"],
                                             manifest.paragraphs, manifest.paragraph_search.kind)
        self.sentence_index = MilvusVectors(milvus, self._names["sentences"],
                                            manifest.sentences, manifest.sentence_search.kind,
                                            owner="paragraph_id")
        # Vectors that came with the last rows() and sentences() answers: a search asks for
        # them next, and fetching them with the rows saves two round trips per query. Each is
        # replaced whole, never mutated, so concurrent readers at worst query again.
        self._fetched: dict[str, dict[int, Any]] = {"paragraphs": {}, "sentences": {}}
        self._latest: list[ArticleInfo] | None = None
        self._max_row = 0

    @property
    def generation(self) -> str:
        """The generation's name."""
        return self._generation

    @classmethod
    def open(cls, milvus: Milvus, generation: str, embedder: Embedder | None = None
             ) -> MilvusGeneration:
        """Open and verify a generation; with ``embedder``, also check it embeds compatibly."""
        manifest = read_manifest(milvus, generation)
        if embedder is not None:
            check_compatible(manifest, embedder, f"{milvus.where} ({milvus.prefix})")
        for kind, expected in (("articles", manifest.articles),
                               ("paragraphs", manifest.paragraphs),
                               ("sentences", manifest.sentences)):
            name = milvus.collection(generation, kind)
            milvus.load(name)
            held = milvus.count(name)
            if held != expected:
                raise IndexCorrupt(f"collection {name} in {milvus.where} holds {held} rows but "
                                   f"the manifest says {expected}; {REBUILD_HINT}")
        reports = read_reports(milvus, generation)
        opened = cls(milvus, generation, manifest, _term_statistics(milvus, generation, reports))
        opened._max_row = max((r.max_row for r in reports), default=0)
        return opened

    def close(self) -> None:
        """Nothing to release: the client is shared and the collections stay in Milvus."""

    def _in(self, kind: str, key: str, ids: Sequence[int], fields: list[str]
            ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        wanted = [int(i) for i in ids]
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows += self._milvus.query(self._names[kind], f"{key} in {chunk}", fields)
        return rows

    @staticmethod
    def _ref(row: dict[str, Any]) -> ParagraphRef:
        return ParagraphRef(int(row["id"]), row["article_id"], int(row["number"]), row["text"],
                            _text(row["section"]), row["title"], _text(row["url"]),
                            _text(row["date"]), page=int(row.get("page") or 0) or None)

    def rows(self, paragraph_ids: Sequence[int]) -> list[ParagraphRef]:
        """Paragraph rows in the order of ``paragraph_ids`` (unknown ids are left out)."""
        rows = self._in("paragraphs", "id", paragraph_ids, [*self._row_fields, "vector"])
        self._fetched["paragraphs"] = {int(r["id"]): r["vector"] for r in rows}
        found = {int(r["id"]): self._ref(r) for r in rows}
        return [found[int(i)] for i in paragraph_ids if int(i) in found]

    def paragraph_row(self, article_id: str, number: int) -> ParagraphRef | None:
        """One paragraph by its article and number."""
        expr = f"article_id == {json.dumps(article_id)} and number == {int(number)}"
        rows = self._milvus.query(self._names["paragraphs"], expr, self._row_fields)
        return self._ref(rows[0]) if rows else None

    def article_rows(self, article_id: str) -> list[ParagraphRef]:
        """All paragraphs of an article, in its own order."""
        expr = f"article_id == {json.dumps(article_id)}"
        rows = self._milvus.query(self._names["paragraphs"], expr, self._row_fields)
        return sorted((self._ref(r) for r in rows), key=lambda ref: ref.number)

    def sentences(self, paragraph_ids: Sequence[int]) -> dict[int, tuple[SentenceRow, ...]]:
        """Sentences of each paragraph, in text order."""
        grouped: dict[int, list[SentenceRow]] = {int(i): [] for i in paragraph_ids}
        fields = ["id", "paragraph_id", "start", "end", "vector"]
        rows = self._in("sentences", "paragraph_id", list(grouped), fields)
        self._fetched["sentences"] = {int(r["id"]): r["vector"] for r in rows}
        for r in rows:
            grouped[int(r["paragraph_id"])].append(
                SentenceRow(int(r["id"]), int(r["paragraph_id"]), int(r["start"]), int(r["end"]))
            )
        return {pid: tuple(sorted(rows, key=lambda s: s.start)) for pid, rows in grouped.items()}

    def sentence_paragraphs(self, sentence_ids: Sequence[int]) -> dict[int, int]:
        """Paragraph id of each given sentence id (unknown ids are left out)."""
        known = self.sentence_index.owners
        found = {int(i): known[int(i)] for i in sentence_ids if int(i) in known}
        missing = [int(i) for i in sentence_ids if int(i) not in found]
        if missing:
            rows = self._in("sentences", "id", missing, ["id", "paragraph_id"])
            found.update((int(r["id"]), int(r["paragraph_id"])) for r in rows)
        return found

    def _vectors(self, kind: str, ids: Sequence[int]) -> np.ndarray:
        fetched = self._fetched[kind]
        found = {int(i): fetched[int(i)] for i in ids if int(i) in fetched}
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            found.update((int(r["id"]), r["vector"])
                         for r in self._in(kind, "id", missing, ["id", "vector"]))
        out = np.zeros((len(ids), self.manifest.dimensions), dtype=np.float32)
        for row, i in enumerate(ids):
            out[row] = found[int(i)]  # KeyError for an unknown id, as the protocol says
        return out

    def paragraph_vectors(self, paragraph_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the paragraphs (rows in the given order; KeyError for unknown ids)."""
        return self._vectors("paragraphs", paragraph_ids)

    def sentence_vectors(self, sentence_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the sentences (rows in the given order; KeyError for unknown ids)."""
        return self._vectors("sentences", sentence_ids)

    def latest_articles(self, n: int) -> list[ArticleInfo]:
        """The ``n`` most recent articles: by date (undated last), then newest indexed first."""
        if self._latest is None:  # a generation never changes: sorted once
            fields = ["row", "article_id", "title", "url", "date", "paragraphs"]
            rows = list(self._milvus.scan(self._names["articles"], "row", self._max_row, fields))
            rows.sort(key=lambda r: (r["date"] == "", _descending(r["date"]), -int(r["row"])))
            self._latest = [
                ArticleInfo(r["article_id"], r["title"], _text(r["url"]), _text(r["date"]),
                            int(r["paragraphs"]))
                for r in rows
            ]
        return self._latest[: max(0, n)]


def _descending(text: str) -> tuple[int, ...]:
    """A sort key that orders strings in reverse (dates newest first)."""
    return tuple(-ord(c) for c in text) + (1,)
