"""Shared fixtures: the packaged embedding model (loaded once) and a tiny article corpus."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The packaged model is on disk; tests must never reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from index.embed import Embedder  # noqa: E402
from index.settings import IndexSettings, KnowledgeBaseSettings  # noqa: E402

# Three short articles, one per file, with paragraphs kept verbatim (JSON ``paragraphs``).
CORPUS: dict[str, dict[str, object]] = {
    "owls": {
        "id": "owls",
        "title": "Owls of the northern forests",
        "date": "2024-03-01",
        "paragraphs": [
            "Owls are nocturnal birds of prey that hunt small mammals at night. Their large eyes "
            "gather light, and their soft feathers let them fly almost silently.",
            "The snowy owl lives in the Arctic tundra and hunts lemmings during the long summer "
            "days. Unlike most owls, it is active in daylight.",
            "An owl can turn its head about 270 degrees. It cannot move its eyes, so it turns "
            "its whole head to follow prey.",
        ],
    },
    "bread": {
        "id": "bread",
        "title": "Baking sourdough bread",
        "date": "2024-05-10",
        "paragraphs": [
            "Sourdough bread rises with a starter of wild yeast and lactic acid bacteria instead "
            "of commercial yeast. The starter must be fed flour and water every day.",
            "A long, cold fermentation in the refrigerator gives sourdough its sour taste and open "
            "crumb. Bakers score the loaf before it goes into a very hot oven.",
        ],
    },
    "volcanoes": {
        "id": "volcanoes",
        "title": "How volcanoes erupt",
        "paragraphs": [
            "Magma rises because it is lighter than the solid rock around it. Gas dissolved in "
            "the magma expands as the pressure drops near the surface.",
            "Explosive eruptions happen when sticky, silica-rich magma traps the gas until it "
            "bursts out. Runny basalt lava lets gas escape gently, as in Hawaii.",
        ],
    },
}


def write_corpus(folder: Path, articles: dict[str, dict[str, object]] | None = None) -> Path:
    """Write each article as ``<folder>/<key>.jsonl``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, record in (articles if articles is not None else CORPUS).items():
        (folder / f"{key}.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the embedding model, directly or through another fixture, so
    that ``-m "not model"`` leaves out all of them and never loads it."""
    for item in items:
        if "embedder" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A session-wide $XDG_CACHE_HOME: the ONNX export is made once per test session (also for
    ``citebot`` subprocesses, which inherit it) and never lands in the user's cache."""
    home = tmp_path_factory.mktemp("cache-home")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged model, loaded once for the whole test session."""
    import torch

    torch.set_num_threads(1)  # small inputs: one thread is as fast and leaves the CPU to others
    model = Embedder()
    model.embed_passages(["load the model"])
    return model


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A folder holding the three-article test corpus."""
    return write_corpus(tmp_path / "articles")


@pytest.fixture
def kb_settings(tmp_path: Path, corpus_dir: Path) -> KnowledgeBaseSettings:
    """Settings with the index in a temporary folder and the test corpus as its source."""
    return KnowledgeBaseSettings(
        index=IndexSettings(path=str(tmp_path / "index"), sources=(str(corpus_dir),))
    )
