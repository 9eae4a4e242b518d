"""The Milvus engine against a real Milvus: Milvus Lite's gRPC server (one per session, on a free
port of 127.0.0.1, the same client and network path as a cluster) and its in-process file mode.

Each test uses its own collection prefix, so they share the server without seeing each other.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "pymilvus", reason='the Milvus engine is optional: pip install "citebot[milvus]"'
)
pytest.importorskip("milvus_lite", reason='Milvus Lite comes with pip install "citebot[milvus]"')

from bot.cli import main  # noqa: E402
from index import milvus_store  # noqa: E402
from index.build import build_index  # noqa: E402
from index.embed import Embedder  # noqa: E402
from index.knowledge_base import open_knowledge_base  # noqa: E402
from index.settings import IndexSettings, KnowledgeBaseSettings, MilvusSettings  # noqa: E402
from index.vectors import empty_file  # noqa: E402
from tests.conftest import CORPUS, write_corpus  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = (
    "Which owl is active in daylight?",
    "How far can an owl turn its head?",
    "What makes sourdough bread rise?",
    "Why do some volcanoes explode?",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"milvus-lite server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"milvus-lite server did not listen on port {port}")


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``milvus-lite server`` on 127.0.0.1 and a free port, for the whole session."""
    port = _free_port()
    data = tmp_path_factory.mktemp("milvus-server")
    process = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _settings(root: Path, sources: Path, uri: str, prefix: str) -> KnowledgeBaseSettings:
    return KnowledgeBaseSettings(
        index=IndexSettings(path=str(root), sources=(str(sources),), engine="milvus"),
        milvus=MilvusSettings(uri=uri, collection_prefix=prefix, timeout_seconds=10.0),
    )


def _config(path: Path, settings: KnowledgeBaseSettings) -> Path:
    lines = [
        "[index]", f'engine = "{settings.index.engine}"', f'path = "{settings.index.path}"',
        f"sources = {json.dumps(list(settings.index.sources))}",
        "[milvus]", f'uri = "{settings.milvus.uri}"', f'token_env = "{settings.milvus.token_env}"',
        f'collection_prefix = "{settings.milvus.collection_prefix}"',
        f"timeout_seconds = {settings.milvus.timeout_seconds}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _answers(settings: KnowledgeBaseSettings, embedder: Embedder) -> list[list[tuple]]:
    kb = open_knowledge_base(settings, embedder)
    return [
        [(h.ref.article_id, h.ref.number, round(h.score, 4)) for h in kb.search(q, 3)]
        for q in QUESTIONS
    ]


def test_build_ask_edit_build_on_the_server(
    tmp_path: Path, corpus_dir: Path, milvus_uri: str, embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches of 3 rows, so this small corpus's vectors are streamed in several inserts, as a
    # large build's are, and must still line up with their rows.
    monkeypatch.setattr(milvus_store, "_BATCH", 3)
    settings = _settings(tmp_path / "local", corpus_dir, milvus_uri, "edit")
    first = build_index(settings, embedder=embedder)
    assert (first.articles, first.added) == (3, 3)
    # The FAISS engine ranks the same candidates the same way.
    faiss = dataclasses.replace(
        settings, index=dataclasses.replace(settings.index, engine="faiss",
                                            path=str(tmp_path / "faiss"))
    )
    build_index(faiss, embedder=embedder)
    assert _answers(settings, embedder) == _answers(faiss, embedder)
    kb = open_knowledge_base(settings, embedder)
    milvus = kb._store.milvus  # type: ignore[attr-defined]
    calls: list[object] = []
    real_call = milvus.call
    with monkeypatch.context() as patch:
        patch.setattr(milvus, "call", lambda action: calls.append(action) or real_call(action))
        assert kb.search("Which owl hunts in daylight?", 1)[0].ref.article_id == "owls"
    # Three searches, then the candidates' rows and their sentences, vectors included.
    assert len(calls) == 5
    assert [a.article_id for a in kb.latest_articles(5)] == ["bread", "owls", "volcanoes"]

    edited = json.loads(json.dumps(CORPUS))
    edited["bread"]["paragraphs"][1] = (
        "Rye bread needs no starter at all in this recipe. A pinch of caraway seeds is kneaded "
        "into the dough before it rests overnight."
    )
    del edited["volcanoes"]
    for file in corpus_dir.iterdir():
        file.unlink()
    write_corpus(corpus_dir, edited)
    second = build_index(settings, embedder=embedder)
    assert (second.updated, second.unchanged, second.removed) == (1, 1, 1)
    assert second.embedded == 1  # only the edited paragraph
    assert kb.refresh()
    hit = kb.search("What is kneaded into the rye dough?", 1)[0]
    assert (hit.ref.article_id, hit.ref.number) == ("bread", 1)
    assert all(h.ref.article_id != "volcanoes" for h in kb.search("magma eruption", 5))
    # The old generation was kept (keep_generations = 1) and the next build cleans the rest.
    assert len(kb._store.milvus.generations()) == 2  # type: ignore[attr-defined]


def test_vectors_are_read_from_disk_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(milvus_store, "_BATCH", 4)
    table = empty_file(tmp_path / "vectors.npy", 10, 3)
    written = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    table.write(0, written)
    reads: list[tuple[int, int]] = []
    original = table.slice

    def slice_(start: int, stop: int) -> np.ndarray:
        reads.append((start, stop))
        return original(start, stop)

    monkeypatch.setattr(table, "slice", slice_)
    stream = milvus_store._as_stored(table)
    assert next(stream) == written[0].astype(np.float16).astype(np.float32).tolist()
    assert reads == [(0, 4)]  # nothing beyond the first batch was read yet
    rest = list(stream)
    assert reads == [(0, 4), (4, 8), (8, 12)]
    stored = np.array([written[0].astype(np.float16).astype(np.float32).tolist(), *rest])
    assert np.array_equal(stored, written.astype(np.float16).astype(np.float32))


def test_file_mode_and_the_cli(
    tmp_path: Path, corpus_dir: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path / "local", corpus_dir, "", "citebot")  # Lite in [index] path
    config = _config(tmp_path / "citebot.toml", settings)
    assert main(["--config", str(config), "index", "build", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["paragraphs"] == 7
    assert main(["--config", str(config), "index", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["paragraphs"], stats["paragraph_search"]) == (7, "milvus-flat")
    assert main(["--config", str(config), "search", "sourdough starter", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["article_id"] == "bread"


def test_pdf_pages_survive_the_milvus_engine(
    tmp_path: Path, milvus_uri: str, embedder: Embedder
) -> None:
    from pdf_writer import Line, paragraph, pdf_bytes

    sources = tmp_path / "docs"
    sources.mkdir()
    (sources / "report.pdf").write_bytes(pdf_bytes([
        [Line(72, 740, "Annual report", 20), *paragraph(
            "The lighthouse keeper logged every passing ship in a leather book for forty years, "
            "noting its name, its flag and the weather at the hour it passed the point.",
            72, 700, 440)],
        [*paragraph("The harbour froze solid in the winter of 1947 and the ferries stopped "
                    "running for six weeks until icebreakers arrived from the north.",
                    72, 700, 440)],
    ]))
    settings = _settings(tmp_path / "local", sources, milvus_uri, "pages")
    build_index(settings, embedder=embedder)
    hit = open_knowledge_base(settings, embedder).search("When did the harbour freeze?", 1)[0]
    assert hit.ref.page == 2


def _one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("citebot: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_unreachable_server_is_one_line(
    tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path / "local", corpus_dir, f"http://127.0.0.1:{_free_port()}", "x")
    settings = dataclasses.replace(settings, milvus=dataclasses.replace(
        settings.milvus, timeout_seconds=1.0))
    err = _one_line(["--config", str(_config(tmp_path / "c.toml", settings)), "ask", "hi?"],
                    capsys)
    assert "cannot reach Milvus at http://127.0.0.1:" in err and "[milvus] uri" in err


def _auth_server(data: Path, token: str) -> tuple[object, object, int]:
    """Milvus Lite's gRPC service behind a token check, as a Milvus with authentication has."""
    import grpc
    from milvus_lite.adapter.grpc.servicer import MilvusServicer
    from milvus_lite.db import MilvusLite
    from pymilvus.grpc_gen import milvus_pb2_grpc

    expected = base64.b64encode(token.encode()).decode()

    class TokenCheck(grpc.ServerInterceptor):  # type: ignore[misc]
        def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
            if dict(details.invocation_metadata).get("authorization") == expected:
                return continuation(details)

            def deny(request, context):  # type: ignore[no-untyped-def]
                context.abort(grpc.StatusCode.UNAUTHENTICATED,
                              "auth check failure, please check username, password or token")

            return grpc.unary_unary_rpc_method_handler(deny)

    db = MilvusLite(str(data))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[TokenCheck()])
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, db, port


def test_wrong_token_is_one_line(
    tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, db, port = _auth_server(tmp_path / "auth", "root:Milvus")
    try:
        settings = _settings(tmp_path / "local", corpus_dir, f"http://127.0.0.1:{port}", "x")
        config = _config(tmp_path / "c.toml", settings)
        monkeypatch.setenv("MILVUS_TOKEN", "root:wrong")
        err = _one_line(["--config", str(config), "index", "stats"], capsys)
        assert "refused the token" in err and "token_env" in err and "root:wrong" not in err
        monkeypatch.setenv("MILVUS_TOKEN", "root:Milvus")
        err = _one_line(["--config", str(config), "index", "stats"], capsys)
        assert "no index in Milvus at" in err  # authenticated: it got as far as the alias
    finally:
        server.stop(grace=None)  # type: ignore[attr-defined]
        db.close()  # type: ignore[attr-defined]


def test_dimension_mismatch_is_one_line(
    tmp_path: Path, corpus_dir: Path, milvus_uri: str, embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = _settings(tmp_path / "local", corpus_dir, milvus_uri, "dims")
    build_index(settings, embedder=embedder)
    from index.milvus_schema import placeholder
    from index.storage import open_storage

    store = open_storage(settings)
    generation = store.serving()
    milvus = store.milvus  # type: ignore[attr-defined]
    manifest = dataclasses.replace(store.manifest(generation), dimensions=768)
    # What an index built with a 768-dimension model records.
    milvus.client.upsert(milvus.collection(generation, "meta"), [
        {"key": "manifest", "kind": "manifest", "shard": 0,
         "data": json.dumps(manifest.to_json()), "placeholder": placeholder()}])
    err = _one_line(["--config", str(_config(tmp_path / "c.toml", settings)), "ask", "owls?"],
                    capsys)
    assert "(768 dims)" in err and "(384 dims)" in err and "citebot index rebuild" in err


@pytest.mark.model
def test_two_shard_processes_equal_one_build(
    tmp_path: Path, corpus_dir: Path, milvus_uri: str
) -> None:
    single = _settings(tmp_path / "single", corpus_dir, milvus_uri, "single")
    # The backend the shard processes pick ("auto": ONNX int8), for the single build too.
    embedder = Embedder.from_settings(single.embedding)
    build_index(single, embedder=embedder)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = []
    for i in (1, 2):
        # Two machines: each has its own local folder (embedding cache), both one server.
        config = _config(tmp_path / f"shard{i}.toml",
                         _settings(tmp_path / f"shard{i}", corpus_dir, milvus_uri, "sharded"))
        runs.append(subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "index", "build",
             "--shard", f"{i}/2", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    shards = [json.loads(out) for out, _err in outputs]
    assert sum(s["articles"] for s in shards) == 3
    sharded = _settings(tmp_path / "shard1", corpus_dir, milvus_uri, "sharded")
    assert main(["--config", str(tmp_path / "shard1.toml"), "index", "publish"]) == 0
    assert _answers(sharded, embedder) == _answers(single, embedder)
    kb = open_knowledge_base(sharded, embedder)
    assert kb.stats().paragraphs == 7


def test_publish_waits_for_every_shard(
    tmp_path: Path, corpus_dir: Path, milvus_uri: str, embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = _settings(tmp_path / "local", corpus_dir, milvus_uri, "partial")
    config = _config(tmp_path / "c.toml", settings)
    build_index(settings, embedder=embedder, shard=_shard("2/3"))
    err = _one_line(["--config", str(config), "index", "publish"], capsys)
    assert "lacks shard(s) 1, 3 of 3" in err
    # A dead shard is re-run alone; running one twice replaces its rows.
    for text in ("1/3", "3/3", "3/3"):
        build_index(settings, embedder=embedder, shard=_shard(text))
    assert main(["--config", str(config), "index", "publish"]) == 0
    assert open_knowledge_base(settings, embedder).stats().paragraphs == 7


def _shard(text: str) -> object:
    from index.shards import parse_shard

    return parse_shard(text)


@pytest.mark.model
def test_sigkill_during_a_build_leaves_the_alias_answering(
    tmp_path: Path, corpus_dir: Path, milvus_uri: str
) -> None:
    settings = _settings(tmp_path / "local", corpus_dir, milvus_uri, "killed")
    embedder = Embedder.from_settings(settings.embedding)  # "auto", as the CLI process embeds
    build_index(settings, embedder=embedder)
    before = _answers(settings, embedder)
    kb = open_knowledge_base(settings, embedder)
    milvus = kb._store.milvus  # type: ignore[attr-defined]
    known = set(milvus.generations())
    config = _config(tmp_path / "c.toml", settings)
    build = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "index", "rebuild"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # Killed the moment its new generation's first collection exists: mid-write.
    deadline = time.monotonic() + 120
    while set(milvus.generations()) == known and build.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    build.kill()
    build.wait()
    assert build.returncode != 0
    assert _answers(settings, embedder) == before
    assert not kb.refresh() and kb.generation in known
    # The next build drops what the killed one left and serves the same answers.
    build_index(settings, embedder=embedder)
    left = [g for g in milvus.generations() if g not in known]
    assert len(left) == 1 and left[0] == kb._store.serving()  # type: ignore[attr-defined]
    assert _answers(settings, embedder) == before


@pytest.mark.model
def test_the_telegram_bot_answers_from_milvus(tmp_path: Path, milvus_uri: str) -> None:
    from fake_bot_api import BotProcess, FakeBotApi, private_chat, user, write_bot_config
    from telegram_bot import ask, first_quote, first_source

    settings = _settings(tmp_path / "local", REPO / "examples" / "articles", milvus_uri, "bot")
    build_index(settings, embedder=Embedder.from_settings(settings.embedding))
    api = FakeBotApi().start()
    try:
        config = write_bot_config(tmp_path / "bot.toml", api, tmp_path / "local",
                                  tmp_path / "bot.sqlite")
        text = config.read_text(encoding="utf-8").replace(
            "[index]\n", '[index]\nengine = "milvus"\n', 1)
        text += f'\n[milvus]\nuri = "{milvus_uri}"\ncollection_prefix = "bot"\n'
        config.write_text(text, encoding="utf-8")
        bot = BotProcess(api, config, tmp_path / "bot.log").start()
        try:
            ann = user(71, "Ann")
            _, call = ask(api, private_chat(ann), ann,
                          "When did French soldiers find the Rosetta Stone?")
            assert "1799" in first_quote(call)
            assert "The Rosetta Stone" in first_source(call)
        finally:
            assert bot.stop() == 0
    finally:
        api.stop()
