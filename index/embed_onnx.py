"""ONNX Runtime embeddings: export a sentence-transformers folder once, then serve without torch.

Export (and the int8 quantization) needs torch and writes into a cache folder; serving from that
cache needs only onnxruntime, the ``tokenizers`` library and numpy, so a process that answers
questions never pays for importing torch.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import CitebotIndexError, first_line

if TYPE_CHECKING:
    import onnxruntime
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from index.embed_torch import TorchEncoder

log = logging.getLogger(__name__)

ONNX_BACKENDS = ("onnx", "onnx-int8")
# Bump whenever the exported graph or its files change: cached exports of another version are
# ignored (and re-exported) instead of being read wrongly.
EXPORT_FORMAT_VERSION = 1
# An export whose vectors are further than this from the torch model's is refused.
MIN_PROBE_COSINE = 0.98
_MODEL_FILE = "model.onnx"
_META_FILE = "export.json"
_PROBES = (
    "Owls hunt small mammals at night.",
    "What temperature does water boil at?",
    "The treaty was signed in 1648 after thirty years of war in central Europe, ending the "
    "conflict between the Catholic and Protestant states of the Holy Roman Empire.",
    "a",
    "Sourdough rises with wild yeast; the starter is fed flour and water every day.",
)


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
        raise OnnxExportError(f"cannot read the pooling config of {folder.name} ({exc}); {hint}") from None
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
        lowercase=bool(_read_json(transformer_dir / "sentence_bert_config.json").get("do_lower_case")),
        tokenizer_file=tokenizer_file,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def max_seq_length(transformer_dir: Path) -> int:
    """The model's max sequence length as sentence-transformers derives it from the files."""
    configured = _read_json(transformer_dir / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(configured, int) and configured > 0:
        return configured
    limits = [
        _read_json(transformer_dir / "config.json").get("max_position_embeddings"),
        _read_json(transformer_dir / "tokenizer_config.json").get("model_max_length"),
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


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/citebot``, or ``~/.cache/citebot``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "citebot"


def export_dir(cache_dir: Path, model_id: str, backend: str) -> Path:
    """Where the export of ``model_id`` for ``backend`` is cached."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in model_id)
    return cache_dir / "onnx" / f"{safe}-{backend}-v{EXPORT_FORMAT_VERSION}"


def export_ready(cache_dir: Path, model_id: str, backend: str) -> bool:
    """Whether a finished export of ``model_id`` for ``backend`` is cached."""
    return _complete(export_dir(cache_dir, model_id, backend))


def _complete(directory: Path) -> bool:
    """Whether ``directory`` holds a finished export (its meta file lists every file's size)."""
    meta = _read_json(directory / _META_FILE)
    files = meta.get("files")
    if meta.get("format_version") != EXPORT_FORMAT_VERSION or not isinstance(files, dict):
        return False
    return all((directory / name).is_file() and (directory / name).stat().st_size == size
               for name, size in files.items())


@contextmanager
def _export_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock for exporting ``target``; a second exporter waits for the first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def ensure_export(
    spec: FolderSpec, model_id: str, backend: str, cache_dir: Path,
    reference: TorchEncoder | None = None,
) -> Path:
    """The cached ONNX model file for ``backend``, exporting (and verifying) it on first use.

    Only an export loads the torch model (``reference``, loaded here when not given), so
    serving from the cache never imports torch.
    """
    if backend not in ONNX_BACKENDS:
        raise ValueError(f"not an ONNX backend: {backend!r}")
    target = export_dir(cache_dir, model_id, backend)
    if _complete(target):
        return target / _MODEL_FILE
    try:
        return _export_locked(spec, model_id, backend, cache_dir, target, reference)
    except OSError as exc:
        raise OnnxExportError(
            f"cannot write the ONNX export to {target.parent} ({exc.strerror or exc}); "
            "set [embedding] cache_dir to a writable folder"
        ) from None


def _export_locked(
    spec: FolderSpec, model_id: str, backend: str, cache_dir: Path, target: Path,
    reference: TorchEncoder | None,
) -> Path:
    with _export_lock(target):
        if _complete(target):  # another process finished it while this one waited
            return target / _MODEL_FILE
        for stale in target.parent.glob(f".{target.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed export; we hold the lock
        log.info("exporting %s to ONNX (%s), once", spec.folder.name, backend)
        reference = reference or _torch_reference(spec)
        temp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        temp.mkdir()
        try:
            if backend == "onnx":
                _export_fp32(spec, reference.model, temp / _MODEL_FILE)
            else:
                fp32 = ensure_export(spec, model_id, "onnx", cache_dir, reference)
                _quantize(fp32, temp / _MODEL_FILE)
            _verify(spec, temp / _MODEL_FILE, reference.encode, backend)
            files = {p.name: p.stat().st_size for p in temp.iterdir()}
            meta = {"format_version": EXPORT_FORMAT_VERSION, "model_id": model_id,
                    "backend": backend, "files": files}
            (temp / _META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            for path in temp.iterdir():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
            if target.exists():
                shutil.rmtree(target)  # an incomplete or damaged earlier export
            os.rename(temp, target)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    return target / _MODEL_FILE


def _torch_reference(spec: FolderSpec) -> TorchEncoder:
    from index.embed_torch import TorchEncoder, TorchLoadError

    try:
        return TorchEncoder(str(spec.folder), device="cpu", batch_size=32)
    except TorchLoadError as exc:
        raise OnnxExportError(
            f"exporting the model to ONNX needs its torch model ({exc}); "
            'install sentence-transformers or use [embedding] backend = "torch"'
        ) from None


def _export_fp32(spec: FolderSpec, model: SentenceTransformer, path: Path) -> None:
    """Export the folder's transformer (token embeddings out; pooling stays in numpy)."""
    import torch

    transformer = model[0]
    network = transformer.auto_model.eval()
    sample = transformer.tokenizer(
        ["a short probe", "a somewhat longer probe sentence for the export"],
        padding=True, return_tensors="pt",
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class _TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.network(**dict(zip(names, inputs)), return_dict=False)[0]

    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "token_embeddings"]}
    try:
        # The tracer warns about shape-dependent Python branches the exported graph handles.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _TokenEmbeddings(), tuple(sample[n] for n in names), str(path),
                input_names=names, output_names=["token_embeddings"], dynamic_axes=axes,
                opset_version=17, do_constant_folding=True, dynamo=False,
            )
    except Exception as exc:  # the exporter raises many kinds; the user needs one line
        first = first_line(exc)
        raise OnnxExportError(
            f"cannot export {spec.folder.name} to ONNX ({first}); "
            'use [embedding] backend = "torch"'
        ) from None


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantization; per channel, which keeps the vectors far closer to fp32."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise OnnxExportError(
            f"int8 quantization needs the onnx package ({exc}); `pip install onnx` or use "
            '[embedding] backend = "onnx"'
        ) from None
    # The quantizer logs an advice about pre-processing on the root logger; it does not apply to
    # a transformer quantized dynamically.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)


def _verify(
    spec: FolderSpec, path: Path, reference: Callable[[list[str]], np.ndarray], backend: str
) -> None:
    """Refuse an export whose vectors drift from the torch model's on a few probe texts."""
    probes = list(_PROBES)
    ours = OnnxEncoder(spec, path, threads=1).encode(probes)
    theirs = np.asarray(reference(probes), dtype=np.float32)
    theirs /= np.maximum(np.linalg.norm(theirs, axis=1, keepdims=True), 1e-12)
    ours_unit = ours / np.maximum(np.linalg.norm(ours, axis=1, keepdims=True), 1e-12)
    worst = float(np.min(np.sum(ours_unit * theirs, axis=1)))
    if worst < MIN_PROBE_COSINE:
        raise OnnxExportError(
            f"the {backend} export of {spec.folder.name} is too far from the torch model "
            f"(cosine {worst:.3f} < {MIN_PROBE_COSINE}); use [embedding] backend = \"torch\""
        )


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


# Texts per onnxruntime call. One: measured on 2 CPU cores with int8 MiniLM on ~140-token
# paragraphs, one text per call embedded 1.3-2x more per second than 32 (no padding, and one
# text's activations stay in cache); it also makes a text's int8 vector independent of its
# neighbours, as int8 activations are quantized per call.
ONNX_BATCH_SIZE = 1


class OnnxEncoder:
    """Embeds texts with an exported model: tokenizers + onnxruntime + numpy pooling.

    Texts run one per call on ``threads`` workers, each call on one core: on a few cores that
    outpaces splitting every matrix product across threads, and onnxruntime releases the GIL.
    """

    def __init__(
        self, spec: FolderSpec, model_path: Path, *, threads: int = 0,
        batch_size: int = ONNX_BATCH_SIZE,
    ) -> None:
        self.spec = spec
        self.batch_size = max(1, batch_size)
        self.workers = threads if threads > 0 else physical_cores()
        self._session = _session(model_path, 1)
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tokenizer = load_tokenizer(spec, truncate=True)
        self._pad_id = self._find_pad_id()
        self._pool_threads = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="citebot-embed"
        )

    def _find_pad_id(self) -> int:
        for token in ("[PAD]", "<pad>"):
            found = self._tokenizer.token_to_id(token)
            if found is not None:
                return int(found)
        return 0

    def _run(self, texts: list[str]) -> np.ndarray:
        """Pooled, normalized vectors of a few texts (padded to the longest).

        Each worker tokenizes its own texts, so tokenizing overlaps the other workers' inference.
        """
        encodings = self._tokenizer.encode_batch(texts) if len(texts) > 1 else [
            self._tokenizer.encode(texts[0])
        ]
        longest = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["token_embeddings"], {n: feed[n] for n in self._inputs})
        return self._pool(hidden, mask)

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        # Always normalized (like torch's ``normalize_embeddings=True``), Normalize module or not.
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: L2-normalized float32 rows in input order."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self.spec.lowercase:
            texts = [t.lower() for t in texts]
        # Longest first, so the workers end together; similar lengths share a call (less padding).
        # Characters order texts well enough without tokenizing them first.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        groups = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if len(groups) == 1:
            parts = [self._run([texts[i] for i in groups[0]])]
        else:
            parts = list(self._pool_threads.map(
                lambda group: self._run([texts[i] for i in group]), groups
            ))
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        for group, vectors in zip(groups, parts):
            out[group] = vectors
        return out

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool_threads.shutdown(wait=False)
