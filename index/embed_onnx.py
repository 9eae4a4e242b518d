"""ONNX Runtime embeddings: serve an exported sentence-transformers model without torch.

Serving needs only onnxruntime, the ``tokenizers`` library and numpy, so a process that answers
questions never pays for importing torch; ``index.onnx_export`` makes (and caches) the export.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import CitebotIndexError, first_line
from index.span_pool import Span, lowercased, sentence_bias, span_vectors

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer


class OnnxExportError(CitebotIndexError):
    """The model cannot be exported to (or served from) ONNX; the message says what to do."""


@dataclass(frozen=True)
class FolderSpec:
    """What serving a sentence-transformers folder without sentence-transformers needs."""

    folder: Path
    pooling: str  # "mean" or "cls"
    max_seq_length: int
    lowercase: bool
    tokenizer_file: Path


def folder_spec(folder: Path) -> FolderSpec:
    """Read a Transformer + Pooling (+ Normalize) folder's layout; anything else raises."""
    hint = 'use [embedding] backend = "torch" for this model'
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise OnnxExportError(f"cannot read {folder / 'modules.json'} ({exc}); {hint}") from None
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise OnnxExportError(
            f"the ONNX backends support Transformer + Pooling (+ Normalize) models, "
            f"{folder.name} has {' + '.join(kinds) or 'no modules'}; {hint}"
        )
    transformer_dir = folder / str(modules[0].get("path", ""))
    pooling_dir = folder / str(modules[1].get("path", ""))
    try:
        pooling_config = json.loads((pooling_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnnxExportError(
            f"cannot read the pooling config of {folder.name} ({exc}); {hint}"
        ) from None
    modes = [k for k, v in pooling_config.items() if k.startswith("pooling_mode_") and v is True]
    pooling = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
    if len(modes) != 1 or modes[0] not in pooling:
        raise OnnxExportError(
            f"the ONNX backends support mean or CLS pooling, {folder.name} uses "
            f"{', '.join(modes) or 'none'}; {hint}"
        )
    tokenizer_file = transformer_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise OnnxExportError(f"{folder.name} has no tokenizer.json; {hint}")
    return FolderSpec(
        folder=folder,
        pooling=pooling[modes[0]],
        max_seq_length=max_seq_length(transformer_dir),
        lowercase=bool(
            read_json(transformer_dir / "sentence_bert_config.json").get("do_lower_case")
        ),
        tokenizer_file=tokenizer_file,
    )


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file's object, or an empty one when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def max_seq_length(transformer_dir: Path) -> int:
    """The model's max sequence length as sentence-transformers derives it from the files."""
    configured = read_json(transformer_dir / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(configured, int) and configured > 0:
        return configured
    limits = [
        read_json(transformer_dir / "config.json").get("max_position_embeddings"),
        read_json(transformer_dir / "tokenizer_config.json").get("model_max_length"),
    ]
    usable = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
    return min(usable) if usable else 512


def load_tokenizer(spec: FolderSpec, truncate: bool) -> Tokenizer:
    """The folder's fast tokenizer, truncating at the max sequence length when ``truncate``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(spec.tokenizer_file))
    tokenizer.no_padding()
    if truncate:
        tokenizer.enable_truncation(max_length=spec.max_seq_length)
    else:
        tokenizer.no_truncation()
    return tokenizer

def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    try:
        import onnxruntime
    except ImportError:
        raise OnnxExportError(
            'the ONNX backends need onnxruntime; `pip install onnxruntime` or use '
            '[embedding] backend = "torch"'
        ) from None
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: the CPU is shared with the rest of the process.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        first = first_line(exc)
        raise OnnxExportError(
            f"cannot load the ONNX model {path} ({first}); delete that folder to export again"
        ) from None


def physical_cores() -> int:
    """CPU cores available to this process, hyper-threads counted once."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return max(1, available or 1)
    cores = set()
    physical = core = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            physical = value.strip()
        elif key.strip() == "core id":
            core = value.strip()
            cores.add((physical, core))
    return max(1, min(len(cores) or available or 1, available or 1))


class OnnxEncoder:
    """Embeds texts with an exported model: tokenizers + onnxruntime + numpy pooling.

    One text per call, on ``threads`` workers, each call on one core: on a few cores that
    outpaces splitting every matrix product across threads (onnxruntime releases the GIL), and
    measured on 2 cores with int8 MiniLM on ~140-token paragraphs, one text per call embedded
    1.3-2x more per second than batches of 32 (no padding; one text's activations stay in
    cache). It also keeps a text's int8 vector independent of other texts, as int8 activations
    are quantized per call, and it lets the exported graph do without an attention mask.
    """

    def __init__(
        self, spec: FolderSpec, model_path: Path, *, threads: int = 0,
        shared_model: Callable[[], Path] | None = None,
    ) -> None:
        """``shared_model`` gives the "shared" sentence graph's file (exported on first use)."""
        self.spec = spec
        self.workers = threads if threads > 0 else physical_cores()
        self._session = _session(model_path, 1)
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tokenizer = load_tokenizer(spec, truncate=True)
        self._pool_threads = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="citebot-embed"
        )
        self._shared_model = shared_model
        self._shared: tuple[onnxruntime.InferenceSession, list[str]] | None = None
        self._shared_lock = threading.Lock()

    def _run(self, text: str) -> np.ndarray:
        """The pooled, normalized vector of one text (tokenized by the worker that runs it)."""
        ids = np.asarray([self._tokenizer.encode(text).ids], dtype=np.int64)
        return self._pool(self._forward(ids))

    def _run_spans(self, text: str, spans: Sequence[Span]) -> tuple[np.ndarray, np.ndarray]:
        """One text's pooled vector and its spans' vectors from the same forward pass."""
        encoding = self._tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        hidden = self._forward(ids)
        return self._pool(hidden), span_vectors(
            hidden[0], encoding.offsets, encoding.special_tokens_mask, spans
        )

    def _run_shared(self, text: str, spans: Sequence[Span]) -> tuple[np.ndarray, np.ndarray]:
        """The "shared" pass (``index.shared_layers``): the text's vector and its spans'."""
        encoding = self._tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        bias = sentence_bias(encoding.offsets, encoding.special_tokens_mask, spans)
        feed = {"input_ids": ids, "token_type_ids": np.zeros_like(ids),
                "sentence_bias": bias[None, None]}
        session, inputs = self._shared_session()
        whole, apart = session.run(
            ["token_embeddings", "sentence_embeddings"], {n: feed[n] for n in inputs}
        )
        return self._pool(np.asarray(whole)), span_vectors(
            np.asarray(apart)[0], encoding.offsets, encoding.special_tokens_mask, spans
        )

    def _shared_session(self) -> tuple[onnxruntime.InferenceSession, list[str]]:
        """The "shared" graph's session and its input names, loaded (and exported) once."""
        with self._shared_lock:
            if self._shared is None:
                if self._shared_model is None:
                    raise OnnxExportError("this encoder has no \"shared\" sentence graph")
                session = _session(self._shared_model(), 1)
                self._shared = session, [i.name for i in session.get_inputs()]
            return self._shared

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        """The model's token embeddings of one text's token ids (a batch of one, unpadded)."""
        feed = {"input_ids": ids, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["token_embeddings"], {n: feed[n] for n in self._inputs})
        return np.asarray(hidden)

    def _pool(self, hidden: np.ndarray) -> np.ndarray:
        """One text's vector from its token embeddings (a batch of one, unpadded)."""
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = hidden.sum(axis=1) / np.float32(hidden.shape[1])
        # Always normalized (like torch's ``normalize_embeddings=True``), Normalize module or not.
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled[0].astype(np.float32, copy=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: L2-normalized float32 rows in input order."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self.spec.lowercase:
            texts = [t.lower() for t in texts]
        # Longest first, so the workers end together. Characters order texts well enough
        # without tokenizing them first.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        if len(order) == 1:
            vectors = [self._run(texts[0])]
        else:
            vectors = list(self._pool_threads.map(lambda i: self._run(texts[i]), order))
        out = np.empty((len(texts), vectors[0].shape[0]), dtype=np.float32)
        out[order] = vectors
        return out

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]], mode: str = "paragraph"
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's vector and its spans' vectors (NaN rows: spans the window cut).

        ``mode`` is "paragraph" or "shared" (see ``index.span_pool``).
        """
        if not texts:
            return []
        if self.spec.lowercase:
            texts, spans = lowercased(texts, spans)
        if mode == "shared":
            self._shared_session()  # export (once) before the workers start
        run = self._run_shared if mode == "shared" else self._run_spans
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        results = list(self._pool_threads.map(lambda i: run(texts[i], spans[i]), order))
        out: list[tuple[np.ndarray, np.ndarray]] = [results[0]] * len(texts)
        for i, result in zip(order, results, strict=True):
            out[i] = result
        return out

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool_threads.shutdown(wait=False)
