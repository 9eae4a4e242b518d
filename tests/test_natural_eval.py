"""The natural-question evaluation: reading its formats and judging replies at answer level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.evaluation import EvalFormatError
from bot.models import Answer, Citation, Quote
from bot.natural_eval import (
    NaturalDialog,
    NaturalQuestion,
    _report,
    format_natural_report,
    judge,
    read_natural,
    sniff_natural,
)
from index import ParagraphRef


def _answer(text: str, article: str = "a", paragraph: int = 0, **kw: object) -> Answer:
    ref = ParagraphRef(1, article, paragraph, "Before. " + text + " After.", None, "T", None, None)
    citation = Citation(n=1, ref=ref, score=1.0)
    return Answer(question="q", abstained=False, quotes=(Quote(text, 1),),
                  citations=(citation,), **kw)  # type: ignore[arg-type]


def _write(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


QUESTION = {"id": "nq-1", "question": "how old was he", "kind": "how-many", "answerable": True,
            "article_id": "a", "paragraph_index": 2, "gold": ["He was 60"], "gold_match": "any",
            "also": [{"article_id": "b", "paragraph_index": 0, "gold": ["aged 60"]}]}


def test_reads_questions_and_recognizes_the_format(tmp_path: Path) -> None:
    path = _write(tmp_path, [QUESTION, {"id": "x", "question": "hi", "kind": "chit-chat",
                                        "answerable": False, "gold": [], "expect": "greeting"}])
    assert sniff_natural(path)
    questions = read_natural(path)
    assert [q.kind for q in questions] == ["how-many", "chit-chat"]
    first = questions[0]
    assert isinstance(first, NaturalQuestion)
    assert [(g.article_id, g.paragraph) for g in first.gold] == [("a", 2), ("b", 0)]
    assert questions[1].expect == "greeting" and not questions[1].gold


def test_reads_dialogs_and_rejects_bad_lines(tmp_path: Path) -> None:
    turn = {"question": "and then?", "article_id": "a", "paragraph_index": 1, "gold": ["x y"],
            "turn_type": "follow-up"}
    dialogs = read_natural(_write(tmp_path, [{"id": "d1", "turns": [turn, turn]}]))
    assert isinstance(dialogs[0], NaturalDialog) and dialogs[0].turns[1].kind == "follow-up"
    bad = _write(tmp_path, [{"id": "x", "question": "q", "gold": []}])
    assert not sniff_natural(bad)
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "kind": "fact", "gold": ["a"]}\nnope\n')
    with pytest.raises(EvalFormatError, match="bad.jsonl:2"):
        read_natural(tmp_path / "bad.jsonl")


def test_judges_quote_citation_and_refusals() -> None:
    q = read_question()
    # Curly quotes and case don't matter; the gold of an `also` paragraph counts.
    assert judge(q, _answer("He was 60.", article="z")).quote_hit
    assert judge(q, _answer("Aged  60, he died.", article="z")).right
    # The right paragraph with the wrong sentence is right by citation only.
    wrong_sentence = judge(q, _answer("It rained.", article="a", paragraph=2))
    assert wrong_sentence.right and not wrong_sentence.quote_hit
    assert not judge(q, _answer("It rained.", article="a", paragraph=3)).right
    refused = judge(q, Answer(question="q", abstained=True))
    assert not refused.answered and not refused.right


def test_two_fact_questions_need_every_gold_string() -> None:
    q = NaturalQuestion("t", "score and where", "two-facts", True,
                        read_question().gold[:1], match_all=True)
    q = NaturalQuestion("t", "score and where", "two-facts", True,
                        (q.gold[0].__class__("a", 5, ("82-76", "in Atlanta")),), match_all=True)
    assert not judge(q, _answer("It ended 82-76.", paragraph=4)).quote_hit
    assert judge(q, _answer("It ended 82-76 in Atlanta.", paragraph=4)).quote_hit


def test_small_talk_needs_the_expected_kind_of_reply_and_no_citation() -> None:
    hi = NaturalQuestion("c", "hi", "chit-chat", False, expect="greeting")
    assert judge(hi, Answer(question="hi", abstained=False, reply_kind="greeting")).chat_handled
    assert not judge(hi, Answer(question="hi", abstained=True)).chat_handled
    assert not judge(hi, Answer(question="hi", abstained=False, reply_kind="thanks")).chat_handled
    assert not judge(hi, _answer("Hello there.", reply_kind="greeting")).chat_handled


def test_report_counts_by_kind_and_refusals() -> None:
    q = read_question()
    near = NaturalQuestion("n", "who won super bowl 51", "near-miss", False)
    rows = [(q, judge(q, _answer("He was 60")), _answer("He was 60"), 0.01),
            (q, judge(q, Answer("q", True)), Answer("q", True), 0.02),
            (near, judge(near, _answer("x")), _answer("x"), 0.01)]
    report = _report(rows)
    assert report.answerable.n == 2 and report.answerable.right == 0.5
    assert report.answerable.wrong_refusals == 0.5
    assert report.refused == {"near-miss": (1, 0.0)}
    text = format_natural_report(report)
    assert "how-many" in text and "near-miss refused" in text


def read_question() -> NaturalQuestion:
    from bot.natural_eval import _natural_question

    return _natural_question(QUESTION)
