"""ONNX backends: close to torch, exported once and cached safely, chosen to match the index."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import index.embed as embed_module
import index.embed_onnx as embed_onnx
import index.onnx_export as onnx_export
from conftest import CORPUS
from index import (
    Embedder,
    EmbeddingModelError,
    EmbeddingSettings,
    IndexMismatch,
    KnowledgeBaseSettings,
    build_index,
    open_knowledge_base,
)
from index.embedding_cache import EmbeddingCache, cache_model_key, text_key
from index.sentences import sentence_spans
from index.settings import IndexSettings

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPHS = [str(p) for a in CORPUS.values() for p in a["paragraphs"]]  # type: ignore[attr-defined]
SENTENCES = [p[s:e] for p in PARAGRAPHS for s, e in sentence_spans(p)]


@pytest.fixture(scope="session")
def onnx_embedders(cache_home: Path) -> dict[str, Embedder]:
    """Both ONNX backends, exported once per session into the session's cache home."""
    made = {b: Embedder(backend=b, threads=1) for b in ("onnx", "onnx-int8")}
    for model in made.values():
        model.embed_queries(["export and load the model"])
    return made


def _settings(tmp_path: Path, corpus_dir: Path, backend: str) -> KnowledgeBaseSettings:
    return KnowledgeBaseSettings(
        index=IndexSettings(path=str(tmp_path / "index"), sources=(str(corpus_dir),)),
        embedding=EmbeddingSettings(backend=backend, threads=1),
    )


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_vectors_are_close_to_torch(
    backend: str, onnx_embedders: dict[str, Embedder], embedder: Embedder
) -> None:
    model = onnx_embedders[backend]
    texts = PARAGRAPHS + SENTENCES
    ours, theirs = model.embed_passages(texts), embedder.embed_passages(texts)
    assert ours.shape == theirs.shape == (len(texts), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.98, (backend, float(cosines.min()))
    query = model.embed_queries(["what do snowy owls hunt"])[0]
    assert np.allclose(query, embedder.embed_queries(["what do snowy owls hunt"])[0], atol=0.05)
    # Rows come back in input order, whatever order the workers ran them in, and a text's
    # vector does not depend on the texts embedded with it.
    single = model.embed_passages([texts[5]])[0]
    assert float(single @ ours[5]) > 0.9999 and float(single @ ours[4]) < 0.95


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_the_export_reads_one_unpadded_text_without_an_attention_mask(
    backend: str, onnx_embedders: dict[str, Embedder]
) -> None:
    import onnxruntime

    model = onnx_embedders[backend]
    path = onnx_export.export_dir(model.cache_dir, model.model_id, backend) / "model.onnx"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # The mask's arithmetic cost ~10% of every call, and a text always runs alone, unpadded.
    assert [i.name for i in session.get_inputs()] == ["input_ids", "token_type_ids"]
    texts = [PARAGRAPHS[0], SENTENCES[0], "a"]
    together = model.embed_passages(texts)
    for text, row in zip(texts, together, strict=True):
        np.testing.assert_array_equal(model.embed_passages([text])[0], row)


def test_tokens_and_limits_without_torch(onnx_embedders: dict[str, Embedder]) -> None:
    model = onnx_embedders["onnx-int8"]
    assert model.max_tokens == 256 - 2
    assert model.count_tokens("hello world") == 2
    assert model.count_tokens("owl " * 300) == 300
    # Texts beyond the max sequence length are truncated like torch does, not rejected.
    assert model.embed_passages(["owl " * 600]).shape == (1, 384)


def test_index_records_the_backend_and_auto_adopts_it(
    tmp_path: Path, corpus_dir: Path, onnx_embedders: dict[str, Embedder]
) -> None:
    settings = _settings(tmp_path, corpus_dir, "onnx-int8")
    build_index(settings)
    assert open_knowledge_base(settings).stats().backend == "onnx-int8"
    auto = Embedder.from_settings(EmbeddingSettings(backend="auto"))
    kb = open_knowledge_base(settings, auto)
    assert auto.backend == "onnx-int8"
    assert kb.search("snowy owl arctic", 1)[0].ref.article_id == "owls"


def test_auto_keeps_a_torch_index_on_torch(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    settings = _settings(tmp_path, corpus_dir, "torch")
    build_index(settings, embedder=embedder)
    # An incremental build with "auto" keeps the index's backend: every vector is reused.
    auto_settings = _settings(tmp_path, corpus_dir, "auto")
    summary = build_index(auto_settings)
    assert (summary.embedded, summary.embedded_sentences) == (0, 0)
    kb = open_knowledge_base(auto_settings)
    assert kb.stats().backend == "torch" and kb.embedder.backend == "torch"


def test_explicit_backend_that_differs_from_the_index_is_a_mismatch(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder
) -> None:
    build_index(_settings(tmp_path, corpus_dir, "torch"), embedder=embedder)
    with pytest.raises(IndexMismatch) as caught:
        open_knowledge_base(_settings(tmp_path, corpus_dir, "onnx-int8"))
    message = str(caught.value)
    assert "\n" not in message
    assert "'torch'" in message and "'onnx-int8'" in message and "citebot index rebuild" in message


def test_auto_prefers_int8_for_a_new_index_and_torch_without_onnxruntime(
    monkeypatch: pytest.MonkeyPatch, onnx_embedders: dict[str, Embedder]
) -> None:
    assert Embedder(backend="auto").backend == "onnx-int8"
    real = embed_module._installed
    monkeypatch.setattr(
        embed_module, "_installed", lambda *names: "onnxruntime" not in names and real(*names)
    )
    assert Embedder(backend="auto").backend == "torch"


def test_unknown_backend_is_one_line() -> None:
    with pytest.raises(EmbeddingModelError, match=r"unknown \[embedding\] backend 'tensorrt'"):
        Embedder(backend="tensorrt")


def test_unsupported_model_layout_says_to_use_torch(tmp_path: Path) -> None:
    folder = tmp_path / "dense-model"
    shutil.copytree(embed_module.resolve_model(embed_module.PACKAGED_MODEL), folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                       "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(EmbeddingModelError) as caught:
        Embedder(str(folder), backend="onnx", cache_dir=str(tmp_path / "cache")).embed_queries(["x"])
    message = str(caught.value)
    assert "\n" not in message and "Dense" in message and 'backend = "torch"' in message
    assert Embedder(str(folder), backend="auto").backend == "torch"  # auto falls back quietly


def test_cache_keys_keep_backends_apart(tmp_path: Path) -> None:
    assert cache_model_key("m:384:abc", "torch") == "m:384:abc"  # existing caches stay valid
    key, vector = text_key("owls"), np.ones((1, 4), dtype=np.float32)
    torch_cache = EmbeddingCache(tmp_path / "cache.sqlite", "m:4:abc", 1, 4)
    torch_cache.put_many([key], vector)
    int8_cache = EmbeddingCache(tmp_path / "cache.sqlite", "m:4:abc", 1, 4, backend="onnx-int8")
    assert int8_cache.get_many([key]) == {}
    assert list(torch_cache.get_many([key])) == [key]


def _fake_torch(embedder: Embedder) -> Any:
    """What an export needs from the torch model, backed by the session's loaded model."""

    class Reference:
        model = embedder.model

        @staticmethod
        def encode(texts: list[str]) -> np.ndarray:
            return embedder.embed_passages(texts)

    return Reference()


def test_concurrent_exports_make_one_complete_copy(
    tmp_path: Path, cache_home: Path, onnx_embedders: dict[str, Embedder], embedder: Embedder,
) -> None:
    model = onnx_embedders["onnx"]
    exported = onnx_export.export_dir(model.cache_dir, model.model_id, "onnx") / "model.onnx"
    calls: list[int] = []

    def slow_export(spec: Any, _model: Any, path: Path) -> None:
        calls.append(1)
        time.sleep(0.3)  # long enough for the other exporter to arrive and wait on the lock
        with open(exported, "rb") as source, open(path, "wb") as target:
            shutil.copyfileobj(source, target, length=1 << 20)

    steps = onnx_export.ExportSteps(export_fp32=slow_export)
    cache = tmp_path / "cache"
    spec = embed_onnx.folder_spec(Path(embed_module.resolve_model(embed_module.PACKAGED_MODEL)))
    results: list[Path] = []
    workers = [
        threading.Thread(target=lambda: results.append(onnx_export.ensure_export(
            spec, model.model_id, "onnx", cache, _fake_torch(embedder), steps)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(calls) == 1 and len(results) == 2 and results[0] == results[1]
    assert results[0].stat().st_size == exported.stat().st_size
    leftovers = [p.name for p in (cache / "onnx").iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def _file_states(folder: Path) -> dict[Path, tuple[int, int]]:
    """Every file under ``folder`` with its inode and modification time: rewritten ones differ."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_second_embedder_reuses_the_export_and_a_damaged_one_is_redone(
    tmp_path: Path, onnx_embedders: dict[str, Embedder], embedder: Embedder,
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(onnx_embedders["onnx"].cache_dir, cache)
    before = _file_states(cache)
    fresh = Embedder(backend="onnx-int8", cache_dir=str(cache), threads=1)
    np.testing.assert_allclose(
        fresh.embed_queries(["owls"]), onnx_embedders["onnx-int8"].embed_queries(["owls"]), atol=1e-6
    )
    assert _file_states(cache) == before  # nothing was exported again
    # A truncated model file (a crash or a full disk) is noticed and exported again.
    target = onnx_export.export_dir(cache, fresh.model_id, "onnx-int8")
    with open(target / "model.onnx", "r+b") as handle:
        handle.truncate(1000)
    (target.parent / f".{target.name}.tmp-99999").mkdir()  # left by a killed export
    made: list[str] = []

    def no_export(*_args: Any) -> None:
        made.append("export")
        raise AssertionError("the intact float32 export was made again")

    def counting_quantize(source: Path, path: Path) -> None:
        made.append("quantize")
        onnx_export.quantize(source, path)

    spec = embed_onnx.folder_spec(Path(embed_module.resolve_model(embed_module.PACKAGED_MODEL)))
    onnx_export.ensure_export(
        spec, fresh.model_id, "onnx-int8", cache, _fake_torch(embedder),
        onnx_export.ExportSteps(export_fp32=no_export, quantize=counting_quantize),
    )
    assert made == ["quantize"]
    assert not (target.parent / f".{target.name}.tmp-99999").exists()
    again = Embedder(backend="onnx-int8", cache_dir=str(cache), threads=1)
    assert again.embed_queries(["owls"]).shape == (1, 384)


def test_serving_from_the_export_cache_never_imports_torch(
    tmp_path: Path, corpus_dir: Path, onnx_embedders: dict[str, Embedder]
) -> None:
    settings = _settings(tmp_path, corpus_dir, "onnx-int8")
    build_index(settings)
    config = tmp_path / "citebot.toml"
    config.write_text(f'[index]\npath = "{settings.index.path}"\n', encoding="utf-8")
    code = (
        "import io, sys, contextlib; from bot.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    assert main(['--config', {str(config)!r}, 'ask', 'What do snowy owls hunt?']) == 0\n"
        f"    assert main(['--config', {str(config)!r}, 'search', 'sourdough starter']) == 0\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'onnxruntime' in sys.modules\n"
        "print(out.getvalue())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "lemmings" in done.stdout and "Sourdough" in done.stdout


def test_unwritable_export_cache_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(EmbeddingModelError) as caught:
        Embedder(backend="onnx", cache_dir=str(blocker)).embed_queries(["owls"])
    message = str(caught.value)
    assert "\n" not in message and "cache_dir" in message and "not-a-folder" in message


def test_a_running_reader_keeps_its_backend_when_a_rebuild_switches(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder, onnx_embedders: dict[str, Embedder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    build_index(_settings(tmp_path, corpus_dir, "torch"), embedder=embedder)
    auto_settings = _settings(tmp_path, corpus_dir, "auto")
    reader = open_knowledge_base(auto_settings)
    assert reader.embedder.backend == "torch"
    # A rebuild from scratch with "auto" is a new index: it takes the preferred backend.
    summary = build_index(auto_settings, rebuild=True)
    assert open_knowledge_base(auto_settings).stats().backend == "onnx-int8"
    assert summary.embedded == len(PARAGRAPHS)  # int8 vectors never come from the torch cache
    # The running reader cannot switch its query embedder: it keeps serving and says why.
    with caplog.at_level("WARNING"):
        assert reader.refresh() is False
    assert "already embeds with 'torch'; restart" in caplog.text
    assert reader.search("snowy owl arctic", 1)[0].ref.article_id == "owls"
