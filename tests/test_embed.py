"""Embedding: shapes, normalization, prefixes, model identity, lazy imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embed import (
    PASSAGE_INPUT_VERSION,
    Embedder,
    EmbeddingModelError,
    passage_input,
    resolve_model,
)
from index.model_folder import folder_fingerprint
from index.settings import PACKAGED_MODEL, EmbeddingSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.model
def test_passages_and_queries_are_normalized_float32(embedder: Embedder) -> None:
    texts = ["Owls hunt at night.", "Sourdough needs a starter.", "Magma rises."]
    passages = embedder.embed_passages(texts)
    queries = embedder.embed_queries(["what do owls hunt"])
    assert passages.shape == (3, 384) and queries.shape == (1, 384)
    assert passages.dtype == np.float32 and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    # The owl passage is the nearest: the vectors carry meaning, not just shape.
    assert int(np.argmax(passages @ queries[0])) == 0


@pytest.mark.model
def test_empty_input_gives_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed_passages([]).shape == (0, 384)


@pytest.mark.model
def test_batches_give_the_same_vectors_as_one_call(embedder: Embedder) -> None:
    texts = [f"sentence number {i} about topic {i % 7}" for i in range(300)]
    whole = embedder.embed_passages(texts)
    alone = embedder.embed_passages(texts[250:251])
    np.testing.assert_allclose(whole[250], alone[0], atol=1e-5)


@pytest.mark.model
def test_texts_of_mixed_lengths_keep_their_rows(embedder: Embedder) -> None:
    # Texts are embedded longest first across chunks; every row must still be its own text's.
    texts = [" ".join(["word"] * (i % 23 + 1) + [f"topic{i}"]) for i in range(300)]
    whole = embedder.embed_passages(texts)
    for i in (0, 7, 22, 150, 263, 299):
        np.testing.assert_allclose(whole[i], embedder.embed_passages([texts[i]])[0], atol=1e-5)


@pytest.mark.model
def test_prefixes_are_prepended(embedder: Embedder) -> None:
    prefixed = Embedder(query_prefix="query: ", passage_prefix="passage: ")
    np.testing.assert_allclose(
        prefixed.embed_queries(["owls"]), embedder.embed_queries(["query: owls"]), atol=1e-5
    )
    np.testing.assert_allclose(
        prefixed.embed_passages(["owls"]), embedder.embed_passages(["passage: owls"]), atol=1e-5
    )
    assert not np.allclose(prefixed.embed_queries(["owls"]), embedder.embed_queries(["owls"]))


@pytest.mark.model
def test_tokens_and_limits(embedder: Embedder) -> None:
    assert embedder.max_tokens == 256 - 2  # [CLS] and [SEP]
    assert embedder.count_tokens("hello world") == 2
    assert embedder.count_tokens("owl " * 300) == 300  # counted without truncation


def test_model_id_and_dimensions_come_from_the_files_without_torch() -> None:
    code = (
        "import sys; from index.embed import Embedder; e = Embedder(); "
        "print(e.model_id, e.dimensions, e.max_tokens, e.count_tokens('owl ' * 300)); "
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0].startswith(f"{PACKAGED_MODEL}:384:") and out[1:] == ["384", "254", "300"]
    assert out[0] == Embedder().model_id  # stable between processes


def test_importing_the_package_and_cli_stays_light() -> None:
    code = (
        "import sys, index, bot.cli, bot.cli_index, bot.cli_answer; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'faiss', 'bm25s', 'onnxruntime', "
        "'tokenizers', 'numpy') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "from index import Embedder, open_knowledge_base; "
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def _copy_config(source: Path, target: Path) -> Path:
    """A model folder with the same configuration and a same-sized (sparse) weights file."""
    target.mkdir()
    for name in ("modules.json", "config.json", "sentence_bert_config.json",
                 "config_sentence_transformers.json"):
        shutil.copy(source / name, target / name)
    (target / "1_Pooling").mkdir()
    shutil.copy(source / "1_Pooling" / "config.json", target / "1_Pooling" / "config.json")
    with open(target / "model.safetensors", "wb") as handle:
        handle.truncate((source / "model.safetensors").stat().st_size)
    return target


def test_model_id_depends_on_contents_not_location(tmp_path: Path) -> None:
    packaged = Path(resolve_model(PACKAGED_MODEL))
    copy = _copy_config(packaged, tmp_path / "copy")
    assert folder_fingerprint(copy) == folder_fingerprint(packaged)
    config = copy / "config.json"
    config.write_text(config.read_text().replace("384", "768"))
    assert folder_fingerprint(copy) != folder_fingerprint(packaged)


def test_local_folder_name_and_dimensions(tmp_path: Path) -> None:
    packaged = Path(resolve_model(PACKAGED_MODEL))
    copy = _copy_config(packaged, tmp_path / "my-model")
    local = Embedder(str(copy))
    assert local.dimensions == 384
    assert local.model_id.startswith("my-model:384:")
    assert local.model_id.split(":")[2] == Embedder().model_id.split(":")[2]


def test_packaged_name_resolves_to_its_folder() -> None:
    folder = Path(resolve_model(PACKAGED_MODEL))
    assert (folder / "modules.json").is_file()
    assert resolve_model("some-org/some-model") == "some-org/some-model"


def test_from_settings_passes_everything_through(tmp_path: Path) -> None:
    settings = EmbeddingSettings(
        backend="onnx", batch_size=7, query_prefix="q: ", passage_prefix="p: ",
        cache_dir=str(tmp_path), threads=3,
    )
    made = Embedder.from_settings(settings)
    assert (made.batch_size, made.query_prefix, made.passage_prefix) == (7, "q: ", "p: ")
    assert (made.backend, made.cache_dir, made.threads) == ("onnx", tmp_path, 3)
    assert made.passage_input_version == PASSAGE_INPUT_VERSION


def test_auto_backend_settles_once(tmp_path: Path) -> None:
    auto = Embedder(backend="auto", cache_dir=str(tmp_path))
    auto.use_index_backend("torch")
    assert auto.backend == "torch" and auto.requested_backend == "auto"
    auto.use_index_backend("onnx-int8")  # a process keeps the backend it settled on
    assert auto.backend == "torch"
    explicit = Embedder(backend="onnx")
    explicit.use_index_backend("torch")  # an explicit backend is never overridden
    assert explicit.backend == "onnx"


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert Embedder(backend="onnx").cache_dir == tmp_path / "citebot"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert Embedder(backend="onnx").cache_dir == Path.home() / ".cache" / "citebot"


def test_passage_input_is_the_paragraph_text() -> None:
    assert passage_input("The text.") == "The text."


@pytest.mark.model  # imports torch to try the folder
def test_unloadable_model_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "modules.json").write_text("not json")
    with pytest.raises(EmbeddingModelError) as caught:
        Embedder(str(broken)).embed_queries(["x"])
    message = str(caught.value)
    assert "\n" not in message and "broken-model" in message and "[embedding] model" in message
