"""``citebot ask``, ``chat`` and ``eval``: output shapes, stdin handling, one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine import Engine
from bot.settings import Settings
from bot.terminal import ChatSession
from index import Embedder, IndexSettings, build_index
from conftest import write_corpus

ANSWER_KEYS = {"question", "kind", "abstained", "answer", "citations"}
CITATION_KEYS = {"n", "article_id", "title", "url", "date", "paragraph", "text", "score"}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    root = tmp_path_factory.mktemp("cli")
    corpus = write_corpus(root / "articles")
    settings = Settings(index=IndexSettings(path=str(root / "index"), sources=(str(corpus),)))
    build_index(settings.knowledge_base, embedder=embedder)
    return root / "index"


@pytest.fixture
def run(index_dir: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run the CLI against the test index (sharing the session's model); returns (rc, out, err)."""

    def open_engine(settings: Settings) -> Engine:
        return Engine.open(settings, embedder)

    def invoke(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        rc = main(["--index", str(index_dir), *argv], engine_factory=open_engine)
        captured = capsys.readouterr()
        return rc, captured.out, captured.err

    return invoke


def check_answer_json(data: dict) -> None:  # type: ignore[type-arg]
    assert set(data) == ANSWER_KEYS
    assert isinstance(data["abstained"], bool)
    for citation in data["citations"]:
        assert set(citation) == CITATION_KEYS
        assert isinstance(citation["paragraph"], int)
    if data["kind"] in ("greeting", "thanks", "help", "goodbye"):
        # Small talk: its own reply text, nothing cited.
        assert data["citations"] == [] and data["answer"] and not data["abstained"]
    elif data["abstained"]:
        assert data["citations"] == [] and data["answer"] == ""
    else:
        assert data["citations"] and data["answer"]
        # The answer opens with a verbatim quote of the first source.
        assert data["answer"][:40] in data["citations"][0]["text"]


def test_ask_json(run) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = run("ask", "How far can an owl turn its head?", "--json")
    assert rc == 0
    data = json.loads(out)
    check_answer_json(data)
    assert not data["abstained"]
    assert data["citations"][0]["article_id"] == "owls"
    assert "270 degrees" in data["answer"]


def test_ask_text_lists_sources(run) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = run("ask", "How far can an owl turn its head?")
    assert rc == 0
    assert "[1]" in out and "Sources:" in out
    assert "[1] Owls of the northern forests — 2024-03-01 — paragraph 3" in out


def test_ask_reads_independent_questions_from_stdin(run) -> None:  # type: ignore[no-untyped-def]
    stdin = "How far can an owl turn its head?\n\nWhat is the boiling point of mercury?\n"
    rc, out, _ = run("ask", "--json", stdin=stdin)
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    check_answer_json(first)
    check_answer_json(second)
    assert not first["abstained"] and second["abstained"]


def test_ask_prints_json_for_piped_questions(run) -> None:  # type: ignore[no-untyped-def]
    stdin = "hi\nHow far can an owl turn its head?\nthanks!\n"
    rc, out, _ = run("ask", stdin=stdin)
    assert rc == 0
    answers = [json.loads(line) for line in out.strip().splitlines()]
    for answer in answers:
        check_answer_json(answer)
    assert [a["kind"] for a in answers] == ["greeting", "answer", "thanks"]
    assert "270 degrees" in answers[1]["answer"]
    # A QUESTION argument stays text, whatever stdin is.
    rc, out, _ = run("ask", "hello", stdin="")
    assert rc == 0 and not out.startswith("{") and "Hello" in out and "Sources" not in out


def test_chat_json_keeps_the_conversation_and_new_resets_it(run) -> None:  # type: ignore[no-untyped-def]
    stdin = "Why does magma rise?\nWhat happens to the gas dissolved in it?\n/new\nWhat does a sourdough starter need every day?\n"
    rc, out, _ = run("chat", "--json", stdin=stdin)
    assert rc == 0
    answers = [json.loads(line) for line in out.strip().splitlines()]
    assert [a["question"] for a in answers] == [
        "Why does magma rise?", "What happens to the gas dissolved in it?",
        "What does a sourdough starter need every day?",
    ]
    for answer in answers:
        check_answer_json(answer)
    assert answers[1]["citations"][0]["article_id"] == "volcanoes"
    assert answers[2]["citations"][0]["article_id"] == "bread"


def test_chat_text_session_commands() -> None:
    out: list[str] = []

    class NoEngine:
        def ask(self, question, conversation=None):  # type: ignore[no-untyped-def]
            raise AssertionError("commands must not reach the engine")

    session = ChatSession(NoEngine(), out.append, as_json=False)  # type: ignore[arg-type]
    assert session.handle("/help") and "/new" in out[-1]
    assert session.handle("/new") and "new conversation" in out[-1]
    assert session.handle("/bogus") and "unknown command" in out[-1]
    assert session.handle("   ")
    assert not session.handle("/quit")


def test_chat_text_wraps_at_the_width_it_is_given() -> None:
    from typing import Any

    from bot.models import Answer, Conversation, Reply

    out: list[str] = []
    text = "word " * 40 + "https://example.org/a-long-link-that-stays-whole-on-its-own-line"

    class Chatty:
        def ask(self, question, conversation=Conversation()):  # type: ignore[no-untyped-def]
            return Reply(Answer(question, False, reply_kind="help", message=text), conversation)

    chatty: Any = Chatty()
    ChatSession(chatty, out.append, as_json=False, width=lambda: 30).handle("help")
    lines = out[-1].rstrip("\n").splitlines()
    assert len(lines) > 5 and all(len(line) <= 30 for line in lines[:-1])
    assert lines[-1] == "https://example.org/a-long-link-that-stays-whole-on-its-own-line"
    ChatSession(chatty, out.append, as_json=False).handle("help")
    assert out[-1].rstrip("\n") == text


def test_eval_reports_retrieval_answers_and_baselines(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    questions = tmp_path / "questions.jsonl"
    rows = [
        {"question": "How far can an owl turn its head?", "article_id": "owls",
         "paragraph_index": 2, "answers": ["270 degrees"]},
        {"question": "What does the snowy owl hunt in summer?", "article_id": "owls",
         "paragraph_index": 1, "answers": ["lemmings"]},
        {"question": "Where does a sourdough loaf go after it is scored?", "article_id": "bread",
         "paragraph_index": 1, "answers": ["a very hot oven"]},
        {"question": "What is the boiling point of mercury?", "article_id": "owls",
         "paragraph_index": None, "answers": []},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    rc, out, _ = run("eval", str(questions), "--json")
    assert rc == 0
    report = json.loads(out)
    assert report["questions"] == 4 and report["answerable"] == 3
    assert set(report["retrieval"]) == {"citebot", "bm25", "dense"}
    assert report["retrieval"]["citebot"]["R@1"] == 1.0
    assert report["answer_hit"] == 1.0 and report["answered"] == 1.0
    assert report["abstained_unanswerable"] == 1.0
    assert 0 < report["latency_p50"] <= report["latency_p95"]

    rc, out, _ = run("eval", str(questions), "--limit", "2")
    assert rc == 0 and "BM25 only" in out and "dense only" in out and "R@1" in out


def test_eval_dialogs(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialogs = tmp_path / "dialogs.jsonl"
    dialog = {"id": "d1", "doc_id": "volcanoes", "turns": [
        {"turn_id": 1, "question": "Why does magma rise?", "paragraph_index": 0},
        {"turn_id": 2, "question": "What happens to the gas dissolved in it?", "paragraph_index": 0},
        {"turn_id": 3, "question": "When do explosive eruptions happen?", "paragraph_index": 1},
    ]}
    dialogs.write_text(json.dumps(dialog) + "\n", encoding="utf-8")
    rc, out, _ = run("eval", "--dialogs", str(dialogs), "--json")
    assert rc == 0
    report = json.loads(out)
    assert report["dialogs"] == 1 and report["followups"] == 2
    assert set(report["followup"]) == {"alone", "citebot", "stay (gold)", "stay (citebot)"}
    assert report["followup"]["citebot"]["R@1"] == 1.0
    assert report["followup"]["stay (gold)"]["R@1"] == 0.5
    assert report["first"]["R@1"] == 1.0


def test_eval_natural_questions_and_conversations(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    questions = tmp_path / "natural.jsonl"
    rows = [
        {"id": "n1", "question": "how far can an owl turn its head", "kind": "how-many",
         "answerable": True, "article_id": "owls", "paragraph_index": 2,
         "gold": ["270 degrees"], "gold_match": "any"},
        {"id": "n2", "question": "what is the boiling point of mercury", "kind": "off-topic",
         "answerable": False, "article_id": None, "paragraph_index": None, "gold": []},
        {"id": "n3", "question": "hi there", "kind": "chit-chat", "answerable": False,
         "article_id": None, "paragraph_index": None, "gold": [], "expect": "greeting"},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    details = tmp_path / "details.jsonl"
    rc, out, _ = run("eval", str(questions), "--json", "--details", str(details))
    assert rc == 0
    report = json.loads(out)
    assert report["answerable"]["n"] == 1 and report["answerable"]["right"] == 1.0
    assert report["by_kind"]["how-many"]["quote_hit"] == 1.0
    assert report["refused"]["off-topic"] == [1, 1.0]
    assert report["chat_handled"] == [1, 1]
    assert len(details.read_text(encoding="utf-8").splitlines()) == 3

    dialogs = tmp_path / "natural-dialogs.jsonl"
    turns = [{"question": "why does magma rise", "article_id": "volcanoes", "paragraph_index": 0,
              "gold": ["lighter than the solid rock"], "turn_type": "first"},
             {"question": "and when do explosive eruptions happen", "article_id": "volcanoes",
              "paragraph_index": 1, "gold": ["explosive"], "turn_type": "follow-up"}]
    dialogs.write_text(json.dumps({"id": "d1", "turns": turns}) + "\n", encoding="utf-8")
    rc, out, _ = run("eval", str(dialogs))
    assert rc == 0 and "follow-up" in out and "2 turns, 2 answerable" in out


def test_eval_bad_input_is_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "article_id": "a", "paragraph_index": 0}\nnot json\n',
                   encoding="utf-8")
    rc, out, err = run("eval", str(bad))
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "bad.jsonl:2" in err
    rc, _, err = run("eval", str(tmp_path / "missing.jsonl"))
    assert rc == 1 and "not found" in err and err.count("\n") == 1


def test_output_cut_short_by_the_reader_is_not_a_traceback(index_dir: Path) -> None:
    """`citebot ask … | head -1` closes the pipe early: a quiet exit, no traceback."""
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--index", str(index_dir), "ask", "--json"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    child.stdin.write(("When was the Rosetta Stone found?\n" * 50).encode())
    child.stdin.close()
    child.stdout.readline()
    child.stdout.close()  # the reader goes away after one line
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) in (0, 141)
    assert "Traceback" not in err, err
