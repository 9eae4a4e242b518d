"""The Milvus engine's connection and layout: one set of collections per generation.

A generation ``G`` of the index whose collection prefix is ``P`` is four collections:
``P_G_paragraphs`` (text, BM25 function, vector), ``P_G_sentences`` (spans, vector),
``P_G_articles`` (content hashes, for incremental builds) and ``P_G_meta`` (the manifest, shard
reports and term statistics). The alias ``P`` names the serving generation's paragraphs: moving
it is one atomic call, so readers see the old generation or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from index.errors import IndexUnavailable, SettingsInvalid, first_line
from index.lexical_tokens import STOP_WORDS

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from index.settings import MilvusSettings

T = TypeVar("T")

KINDS = ("paragraphs", "sentences", "articles", "meta")
# Milvus caps VARCHAR fields at 65,535 bytes; paragraphs are split far below that.
TEXT_BYTES = 65_535
# Collections without a vector of their own still need one vector field in Milvus.
_PLACEHOLDER_DIM = 2
# Rows fetched per query when a whole collection is read (Milvus caps a query at 16,384).
PAGE = 8_000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The same word boundaries and stop words as citebot's tokenizer; Milvus's BM25 has no stemmer
# that Milvus Lite supports too, so inflections are the one difference in candidates.
ANALYZER = {
    "tokenizer": "standard",
    "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOP_WORDS)}],
}


def is_server(uri: str) -> bool:
    """Whether ``uri`` names a Milvus server rather than a Milvus Lite file."""
    return "://" in uri


class Milvus:
    """A Milvus client whose failures become one-line ``IndexUnavailable`` errors."""

    def __init__(self, client: MilvusClient, where: str, prefix: str) -> None:
        self.client = client
        self.where = where
        self.prefix = prefix

    @classmethod
    def connect(cls, settings: MilvusSettings, index_path: Path) -> Milvus:
        """Connect to the configured Milvus (``uri`` empty: Milvus Lite in ``index_path``)."""
        # gRPC's C core logs keepalive chatter between pymilvus and Milvus Lite's in-process
        # server on stderr; failures reach the user through ``call`` anyway.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise SettingsInvalid(
                '[index] engine = "milvus" needs pymilvus: pip install "citebot[milvus]"'
            ) from None
        # pymilvus logs each failed call with its traceback before raising; ``call`` turns the
        # exception into one line, so its log would only repeat it at length.
        pymilvus_log = logging.getLogger("pymilvus")
        if pymilvus_log.level == logging.NOTSET:
            pymilvus_log.setLevel(logging.CRITICAL)
        prefix = settings.collection_prefix
        if not _NAME.match(prefix):
            raise SettingsInvalid(
                f"[milvus] collection_prefix {prefix!r} must be letters, digits and underscores"
            )
        uri = settings.uri or str(index_path / "milvus.db")
        if not is_server(uri):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        token = os.environ.get(settings.token_env, "") if settings.token_env else ""
        where = f"Milvus at {uri}"
        milvus = cls.__new__(cls)
        milvus.where, milvus.prefix = where, prefix
        client = milvus.call(
            lambda: MilvusClient(uri=uri, token=token, timeout=settings.timeout_seconds)
        )
        milvus.client = client
        # Connecting alone does not send the token to every server: ask for something.
        milvus.call(client.list_aliases)
        return milvus

    def call(self, action: Callable[[], T]) -> T:
        """Run ``action``; Milvus's failures become ``IndexUnavailable`` naming the server."""
        import grpc
        from pymilvus.exceptions import MilvusException

        try:
            return action()
        except MilvusException as exc:
            cause = exc.__cause__
            # pymilvus reports a refused token while connecting as a failed connection; the
            # gRPC status it wraps says which it was.
            if isinstance(cause, grpc.RpcError) and hasattr(cause, "code"):
                raise IndexUnavailable(self._explain(cause.code(), str(cause.details()))) from None
            raise IndexUnavailable(self._explain(exc.code, exc.message or str(exc))) from None
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise IndexUnavailable(self._explain(code, str(details))) from None

    def _explain(self, code: object, message: str) -> str:
        import grpc

        text = first_line(Exception(message), "no reason given")
        lowered = text.lower()
        if code == grpc.StatusCode.UNAVAILABLE:
            return f"cannot reach {self.where} ({text}); start the server or fix [milvus] uri"
        if code == grpc.StatusCode.UNAUTHENTICATED or "auth" in lowered:
            return (
                f"{self.where} refused the token ({text}); set the environment variable named "
                "by [milvus] token_env to a valid token"
            )
        if "fail connecting" in lowered or "unavailable" in lowered or "deadline" in lowered:
            return (
                f"cannot reach {self.where} ({text}); start the server or fix [milvus] uri"
            )
        if "lock" in lowered or "open local milvus failed" in lowered:
            # Milvus Lite opens its file from one process at a time.
            return (
                f"{self.where} is in use by another process; to build while a bot serves, run "
                "`milvus-lite server --data-dir FILE` and point [milvus] uri at that server"
            )
        return f"{self.where} failed: {text}"

    def collection(self, generation: str, kind: str) -> str:
        """The name of one of a generation's collections."""
        return f"{self.prefix}_{generation}_{kind}"

    def generations(self) -> dict[str, set[str]]:
        """Every generation with collections under this prefix, and which kinds it has."""
        pattern = re.compile(rf"^{re.escape(self.prefix)}_(.+)_({'|'.join(KINDS)})$")
        found: dict[str, set[str]] = {}
        for name in self.call(self.client.list_collections):
            match = pattern.match(name)
            if match:
                found.setdefault(match.group(1), set()).add(match.group(2))
        return found

    def drop_generation(self, generation: str) -> None:
        """Drop every collection of ``generation`` that exists."""
        for kind in KINDS:
            name = self.collection(generation, kind)
            if self.call(partial(self.client.has_collection, name)):
                self.call(partial(self.client.drop_collection, name))

    def load(self, name: str) -> None:
        """Load a collection for queries (collections are released when Milvus Lite restarts)."""
        self.call(partial(self.client.load_collection, name))

    def query(self, name: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Rows of ``name`` matching ``expr`` (a small result: at most one page)."""
        return list(self.call(
            lambda: self.client.query(name, filter=expr, output_fields=fields, limit=16_384)
        ))

    def fields(self, name: str) -> set[str]:
        """The field names of collection ``name``."""
        described = self.call(partial(self.client.describe_collection, name))
        return {str(f["name"]) for f in described.get("fields", ())}

    def count(self, name: str) -> int:
        """Rows in collection ``name``."""
        rows = self.call(partial(self.client.query, name, filter="", output_fields=["count(*)"]))
        return int(rows[0]["count(*)"])

    def scan(self, name: str, key: str, high: int, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row of ``name`` whose integer ``key`` lies in 0..``high``, a page at a time."""
        for low in range(0, high + 1, PAGE):
            yield from self.query(name, f"{key} >= {low} and {key} < {low + PAGE}", fields)


def create_collections(
    milvus: Milvus, generation: str, dimensions: int, kinds: tuple[str, str]
) -> None:
    """Create the generation's four collections with their indexes (loaded, ready to fill)."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    def schema(key: str, key_type: Any, fields: list[tuple[str, Any, dict[str, Any]]]) -> Any:
        out = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        if key_type == DataType.VARCHAR:
            out.add_field(key, key_type, is_primary=True, max_length=512)
        else:
            out.add_field(key, key_type, is_primary=True)
        for name, kind, params in fields:
            out.add_field(name, kind, **params)
        return out

    text = {"max_length": TEXT_BYTES}
    vector = {"dim": dimensions}
    placeholder = ("placeholder", DataType.FLOAT_VECTOR, {"dim": _PLACEHOLDER_DIM})
    shard: tuple[str, Any, dict[str, Any]] = ("shard", DataType.INT64, {})
    paragraphs = schema("id", DataType.INT64, [
        ("article_id", DataType.VARCHAR, text), ("number", DataType.INT64, {}),
        ("text", DataType.VARCHAR, {**text, "enable_analyzer": True,
                                    "analyzer_params": ANALYZER}),
        ("section", DataType.VARCHAR, text), ("title", DataType.VARCHAR, text),
        ("url", DataType.VARCHAR, text), ("date", DataType.VARCHAR, text),
        ("text_hash", DataType.VARCHAR, {"max_length": 64}),
        # The page a paragraph starts on (1-based; 0: its source has no pages). Collections
        # written before it existed lack the field and read as pageless.
        ("page", DataType.INT64, {}),
        shard, ("vector", DataType.FLOAT_VECTOR, vector),
        ("sparse", DataType.SPARSE_FLOAT_VECTOR, {}),
    ])
    paragraphs.add_function(Function(
        name="bm25", function_type=FunctionType.BM25,
        input_field_names=["text"], output_field_names=["sparse"],
    ))
    sentences = schema("id", DataType.INT64, [
        ("paragraph_id", DataType.INT64, {}), ("start", DataType.INT64, {}),
        ("end", DataType.INT64, {}), shard, ("vector", DataType.FLOAT_VECTOR, vector),
    ])
    articles = schema("row", DataType.INT64, [
        ("article_id", DataType.VARCHAR, text), ("title", DataType.VARCHAR, text),
        ("url", DataType.VARCHAR, text), ("date", DataType.VARCHAR, text),
        ("source", DataType.VARCHAR, text), ("content_hash", DataType.VARCHAR, {"max_length": 64}),
        ("paragraphs", DataType.INT64, {}), shard, placeholder,
    ])
    meta = schema("key", DataType.VARCHAR, [
        ("kind", DataType.VARCHAR, {"max_length": 32}), shard,
        ("data", DataType.VARCHAR, text), placeholder,
    ])
    dense = {kind: _DENSE[k] for kind, k in zip(("paragraphs", "sentences"), kinds, strict=True)}
    for kind, fields in (("paragraphs", paragraphs), ("sentences", sentences),
                         ("articles", articles), ("meta", meta)):
        params = milvus.client.prepare_index_params()
        if kind in ("paragraphs", "sentences"):
            params.add_index("vector", **dense[kind])
        else:
            params.add_index("placeholder", index_type="FLAT", metric_type="L2")
        if kind == "paragraphs":
            params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        name = milvus.collection(generation, kind)
        milvus.call(partial(milvus.client.create_collection, name, schema=fields,
                            consistency_level="Strong"))
        # Not waiting for each index here (Milvus Lite cannot be asked how far it got): loading
        # the collection waits for its indexes anyway.
        milvus.call(partial(milvus.client.create_index, name, params, sync=False))
        milvus.call(partial(milvus.client.load_collection, name))


# How each search kind of the manifest is indexed: exact while a table is small, HNSW (Milvus's
# usual graph index) beyond ``[index] approximate_above``.
_DENSE: dict[str, dict[str, Any]] = {
    "milvus-flat": {"index_type": "FLAT", "metric_type": "IP", "params": {}},
    "milvus-hnsw": {"index_type": "HNSW", "metric_type": "IP",
                    "params": {"M": 16, "efConstruction": 200}},
}


def placeholder() -> list[float]:
    """The value of a collection's placeholder vector field."""
    return [0.0] * _PLACEHOLDER_DIM
