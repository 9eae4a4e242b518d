"""Exporting a sentence-transformers folder to ONNX once, into a cache shared by processes.

The export (and the int8 quantization) needs torch; it is verified against the torch model on a
few probe texts and written under a temporary name, so a reader never finds half an export.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.embed_onnx import FolderSpec, OnnxEncoder, OnnxExportError, read_json
from index.errors import first_line
from index.store_layout import exclusive_lock

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from index.embed_torch import TorchEncoder

log = logging.getLogger(__name__)

ONNX_BACKENDS = ("onnx", "onnx-int8")
# Bump whenever the exported graph or its files change: cached exports of another version are
# ignored (and re-exported) instead of being read wrongly. 2: no attention-mask input.
EXPORT_FORMAT_VERSION = 2
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
_SHARED_PROBE = (
    "Barn owls hunt at night. They find mice by sound alone, even under snow! Their faces "
    "work like dishes that gather sound."
)



def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/citebot``, or ``~/.cache/citebot``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "citebot"


# The graphs an export can hold: "model" (token embeddings of texts: queries, paragraphs,
# sentences alone) and "shared" (a paragraph's and its sentences' tokens in one pass, see
# ``index.shared_layers``; only builds with ``sentence_vectors = "shared"`` need it).
GRAPHS = ("model", "shared")


def export_dir(cache_dir: Path, model_id: str, backend: str, graph: str = "model") -> Path:
    """Where the export of ``model_id``'s ``graph`` for ``backend`` is cached."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in model_id)
    kind = "" if graph == "model" else f"-{graph}"
    return cache_dir / "onnx" / f"{safe}-{backend}{kind}-v{EXPORT_FORMAT_VERSION}"


def export_ready(cache_dir: Path, model_id: str, backend: str) -> bool:
    """Whether a finished export of ``model_id``'s model graph for ``backend`` is cached."""
    return _complete(export_dir(cache_dir, model_id, backend))


def _complete(directory: Path) -> bool:
    """Whether ``directory`` holds a finished export (its meta file lists every file's size)."""
    meta = read_json(directory / _META_FILE)
    files = meta.get("files")
    if meta.get("format_version") != EXPORT_FORMAT_VERSION or not isinstance(files, dict):
        return False
    return all((directory / name).is_file() and (directory / name).stat().st_size == size
               for name, size in files.items())


def ensure_export(
    spec: FolderSpec, model_id: str, backend: str, cache_dir: Path,
    reference: TorchEncoder | None = None, steps: ExportSteps | None = None,
    graph: str = "model",
) -> Path:
    """The cached ONNX file of ``graph`` for ``backend``, exporting (and verifying) it on first use.

    Only an export loads the torch model (``reference``, loaded here when not given), so
    serving from the cache never imports torch. ``steps`` make the model files (default: torch's
    exporter and onnxruntime's quantizer).
    """
    if backend not in ONNX_BACKENDS:
        raise ValueError(f"not an ONNX backend: {backend!r}")
    if graph not in GRAPHS:
        raise ValueError(f"not an exported graph: {graph!r}")
    target = export_dir(cache_dir, model_id, backend, graph)
    if _complete(target):
        return target / _MODEL_FILE
    try:
        return _export_locked(
            spec, model_id, backend, cache_dir, target, reference, steps or ExportSteps(), graph
        )
    except OSError as exc:
        raise OnnxExportError(
            f"cannot write the ONNX export to {target.parent} ({exc.strerror or exc}); "
            "set [embedding] cache_dir to a writable folder"
        ) from None


def _export_locked(
    spec: FolderSpec, model_id: str, backend: str, cache_dir: Path, target: Path,
    reference: TorchEncoder | None, steps: ExportSteps, graph: str,
) -> Path:
    # A second exporter of the same target waits for the first.
    with exclusive_lock(target.parent / f".{target.name}.lock"):
        if _complete(target):  # another process finished it while this one waited
            return target / _MODEL_FILE
        for stale in target.parent.glob(f".{target.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed export; we hold the lock
        log.info("exporting %s to ONNX (%s, %s graph), once", spec.folder.name, backend, graph)
        reference = reference or _torch_reference(spec)
        temp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        temp.mkdir()
        try:
            if backend == "onnx":
                export = steps.export_shared if graph == "shared" else steps.export_fp32
                export(spec, reference.model, temp / _MODEL_FILE)
            else:
                fp32 = ensure_export(spec, model_id, "onnx", cache_dir, reference, steps, graph)
                steps.quantize(fp32, temp / _MODEL_FILE)
            if graph == "shared":
                _verify_shared(spec, temp / _MODEL_FILE, reference, backend)
            else:
                _verify(spec, temp / _MODEL_FILE, reference.encode, backend)
            files = {p.name: p.stat().st_size for p in temp.iterdir()}
            meta = {"format_version": EXPORT_FORMAT_VERSION, "model_id": model_id,
                    "backend": backend, "graph": graph, "files": files}
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


def export_fp32(spec: FolderSpec, model: SentenceTransformer, path: Path) -> None:
    """Export the folder's transformer (token embeddings out; pooling stays in numpy)."""
    import torch

    # A sentence-transformers folder's first module is its Transformer (checked by FolderSpec).
    transformer: Any = model[0]
    network = transformer.auto_model.eval()
    sample = transformer.tokenizer(["a probe sentence for the export"], return_tensors="pt")
    # No attention mask: texts run one per call, unpadded (``OnnxEncoder``), and a graph without
    # the mask's arithmetic embeds ~10% faster, with the same vectors to the last bit.
    names = [n for n in ("input_ids", "token_type_ids") if n in sample]

    class _TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.network(**dict(zip(names, inputs, strict=True)), return_dict=False)[0]

    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "token_embeddings"]}
    _trace(_TokenEmbeddings(), tuple(sample[n] for n in names), path, names,
           ["token_embeddings"], axes, failure=f"cannot export {spec.folder.name} to ONNX",
           hint='use [embedding] backend = "torch"')


def _trace(
    module: Any, sample: tuple[Any, ...], path: Path, inputs: list[str], outputs: list[str],
    axes: dict[str, dict[int, str]], *, failure: str, hint: str,
    then: Callable[[Path], None] | None = None,
) -> None:
    """Trace ``module`` on ``sample`` into ``path`` (then run ``then`` on the file).

    Any failure is one line: ``failure``, the first line of the cause, ``hint``.
    """
    import torch

    try:
        # The tracer warns about shape-dependent Python branches the exported graph handles.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, sample, str(path), input_names=inputs, output_names=outputs,
                dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False,
            )
        if then is not None:
            then(path)
    except Exception as exc:  # the exporter raises many kinds; the user needs one line
        raise OnnxExportError(f"{failure} ({first_line(exc)}); {hint}") from None


def export_shared(spec: FolderSpec, model: SentenceTransformer, path: Path) -> None:
    """Export the "shared" sentence pass (``index.shared_layers``) of the folder's transformer."""
    import torch

    from index.shared_layers import shared_module

    transformer: Any = model[0]
    ids = transformer.tokenizer(["a somewhat longer probe. two sentences"], return_tensors="pt")
    sample = (ids["input_ids"], torch.zeros_like(ids["input_ids"]),
              torch.zeros((1, 1, ids["input_ids"].shape[1], ids["input_ids"].shape[1])))
    names = ["input_ids", "token_type_ids", "sentence_bias"]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "token_type_ids": {0: "batch", 1: "sequence"},
            "sentence_bias": {0: "batch", 2: "sequence", 3: "sequence"},
            "token_embeddings": {0: "batch", 1: "sequence"},
            "sentence_embeddings": {0: "batch", 1: "sequence"}}
    _trace(shared_module(transformer.auto_model.eval()), sample, path, names,
           ["token_embeddings", "sentence_embeddings"], axes,
           failure=f"cannot export {spec.folder.name}'s shared sentence pass to ONNX",
           hint='set [embedding] sentence_vectors = "alone"', then=_unshare_weights)


def _unshare_weights(path: Path) -> None:
    """Give every node its own copy of each weight it shares with another node.

    The upper layers run twice on the same weights, and onnxruntime's int8 quantizer leaves a
    weight with two consumers in float32 (measured: the sentence path then cost twice as much
    as the paragraph's). The copies cost file size, not time.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    # The exporter aliases a weight used twice through Identity nodes: make those real weights.
    aliases = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in weights]
    for node in aliases:
        alias = numpy_helper.from_array(numpy_helper.to_array(weights[node.input[0]]),
                                        node.output[0])
        graph.initializer.append(alias)
        weights[alias.name] = alias
        graph.node.remove(node)
    seen: set[str] = set()
    for node in graph.node:
        for position, name in enumerate(node.input):
            if name not in weights:
                continue
            if name in seen:
                copy = numpy_helper.from_array(
                    numpy_helper.to_array(weights[name]), f"{name}/{node.name or position}"
                )
                graph.initializer.append(copy)
                node.input[position] = copy.name
            seen.add(name)
    onnx.save(model, str(path))


def quantize(source: Path, target: Path) -> None:
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


@dataclass(frozen=True)
class ExportSteps:
    """The steps that write model files; a caller may replace them (tests count or slow them)."""

    export_fp32: Callable[[FolderSpec, SentenceTransformer, Path], None] = export_fp32
    export_shared: Callable[[FolderSpec, SentenceTransformer, Path], None] = export_shared
    quantize: Callable[[Path, Path], None] = quantize


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


def _verify_shared(spec: FolderSpec, path: Path, reference: TorchEncoder, backend: str) -> None:
    """Refuse a "shared" graph whose paragraph or sentence vectors drift from torch's."""
    from index.sentences import sentence_spans

    probes = [*_PROBES, _SHARED_PROBE]
    spans = [sentence_spans(p) for p in probes]
    encoder = OnnxEncoder(spec, path, threads=1, shared_model=lambda: path)
    try:
        ours = encoder.encode_spans(probes, spans, "shared")
    finally:
        encoder.close()
    theirs = reference.encode_spans(probes, spans, "shared")
    worst = 1.0
    for (vector, rows), (their_vector, their_rows) in zip(ours, theirs, strict=True):
        worst = min(worst, float(vector @ their_vector), *(float(a @ b) for a, b in zip(
            rows, their_rows, strict=True) if not np.isnan(a[0]) and not np.isnan(b[0])))
    if worst < MIN_PROBE_COSINE:
        raise OnnxExportError(
            f"the {backend} export of {spec.folder.name}'s shared sentence pass is too far from "
            f"the torch model (cosine {worst:.3f} < {MIN_PROBE_COSINE}); "
            'set [embedding] sentence_vectors = "alone"'
        )
