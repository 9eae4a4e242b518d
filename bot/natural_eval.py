"""Answer-level evaluation on natural questions and conversations (``citebot eval``).

The question files hold what people type — short, vague, misspelled, small talk, near misses —
with gold *answer strings* rather than only a gold paragraph, so what is measured is what a user
sees: whether the quoted text answers, whether citebot refused when it should not (or answered
when it should have refused), and whether small talk got a fitting reply.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.evaluation import EvalFormatError, read_records
from bot.metrics import percentile
from bot.models import Answer, Conversation

if TYPE_CHECKING:
    from bot.engine import Engine

# Unanswerable kinds: what must be refused, and small talk, which must get its own reply.
REFUSE_KINDS = ("near-miss", "off-topic", "boilerplate")
CHAT_KIND = "chit-chat"


@dataclass(frozen=True)
class GoldParagraph:
    """One paragraph that answers, with the answer strings it holds.

    Named by (article id, paragraph number), or, for raw page dumps whose paragraph numbering
    depends on how they are cleaned, by a piece of text only that paragraph contains.
    """

    article_id: str | None
    paragraph: int | None
    answers: tuple[str, ...]
    text_contains: str | None = None


@dataclass(frozen=True)
class NaturalQuestion:
    """A question as people type it, its kind, and what a right reply contains."""

    qid: str
    question: str
    kind: str
    answerable: bool
    gold: tuple[GoldParagraph, ...] = ()
    match_all: bool = False
    # For small talk: the kind of reply expected (greeting, thanks, help).
    expect: str | None = None


@dataclass(frozen=True)
class NaturalDialog:
    """A conversation: each turn is a NaturalQuestion whose kind is its turn type."""

    dialog_id: str
    turns: tuple[NaturalQuestion, ...]


def normalized(text: str) -> str:
    """Lowercase, straight quotes, collapsed whitespace: how answers are compared."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.lower().split())


def _golds(record: dict[str, Any]) -> tuple[GoldParagraph, ...]:
    answers = tuple(str(a) for a in record.get("gold") or ())
    if not record.get("answerable", True) or not answers:
        return ()
    main = GoldParagraph(
        article_id=(str(record["article_id"]) if record.get("article_id") is not None else None),
        paragraph=(int(record["paragraph_index"])
                   if record.get("paragraph_index") is not None else None),
        answers=answers,
        text_contains=record.get("paragraph_text_contains"),
    )
    also = tuple(
        GoldParagraph(str(a["article_id"]), int(a["paragraph_index"]),
                      tuple(str(g) for g in a.get("gold") or ()))
        for a in record.get("also") or ()
    )
    return (main, *also)


def _natural_question(record: dict[str, Any], kind_key: str = "kind") -> NaturalQuestion:
    answerable = bool(record.get("answerable", True))
    return NaturalQuestion(
        qid=str(record.get("id", "")),
        question=str(record["question"]),
        kind=str(record[kind_key]),
        answerable=answerable,
        gold=_golds(record) if answerable else (),
        match_all=record.get("gold_match") == "all",
        expect=record.get("expect"),
    )


def is_natural_questions(record: dict[str, Any]) -> bool:
    """Whether a JSON record is a natural question (it has a kind and answer-level gold)."""
    return "kind" in record and "gold" in record and "question" in record


def is_natural_dialog(record: dict[str, Any]) -> bool:
    """Whether a JSON record is a natural conversation (turns with a turn type and gold)."""
    turns = record.get("turns")
    return bool(turns) and isinstance(turns, list) and "turn_type" in turns[0]


def _natural_record(record: dict[str, Any]) -> NaturalQuestion | NaturalDialog:
    if is_natural_dialog(record):
        turns = tuple(_natural_question(t, "turn_type") for t in record["turns"])
        return NaturalDialog(str(record.get("id", "")), turns)
    return _natural_question(record)


def read_natural(path: Path, limit: int = 0) -> list[NaturalQuestion] | list[NaturalDialog]:
    """The natural questions or conversations of a JSON Lines file (format by its records)."""
    records = read_records(path, _natural_record, "natural question", limit)
    dialogs = [r for r in records if isinstance(r, NaturalDialog)]
    questions = [r for r in records if isinstance(r, NaturalQuestion)]
    if questions and dialogs:
        raise EvalFormatError(f"{path}: mixes single questions and conversations")
    return dialogs if dialogs else questions


def sniff_natural(path: Path) -> bool:
    """Whether the file's first record is in the natural (answer-level gold) format."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    return False
                return isinstance(record, dict) and (
                    is_natural_questions(record) or is_natural_dialog(record))
    return False


# --- judging one reply -----------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """How one reply fared against its question's gold."""

    kind: str
    answerable: bool
    answered: bool
    quote_hit: bool = False
    citation_hit: bool = False
    chat_handled: bool = False

    @property
    def right(self) -> bool:
        """Answered, and the quote holds a gold string or the first citation is a gold paragraph."""
        return self.answered and (self.quote_hit or self.citation_hit)


def _cites(answer: Answer, gold: GoldParagraph) -> bool:
    if not answer.citations:
        return False
    first = answer.citations[0].ref
    if gold.text_contains is not None:
        return normalized(gold.text_contains) in normalized(first.text)
    return (first.article_id, first.number) == (gold.article_id, gold.paragraph)


def _quote_holds(text: str, gold: GoldParagraph, match_all: bool) -> bool:
    wanted = [normalized(a) for a in gold.answers if a.strip()]
    if not wanted:
        return False
    found = [w in text for w in wanted]
    return all(found) if match_all else any(found)


def judge(question: NaturalQuestion, answer: Answer) -> Judgement:
    """Score one reply: right answer, wrong or missed refusal, or small talk handled."""
    answered = not answer.abstained and bool(answer.quotes)
    if question.kind == CHAT_KIND:
        handled = not answer.citations and answer.kind == (question.expect or answer.kind) \
            and answer.kind not in ("answer", "abstain")
        return Judgement(question.kind, False, answered, chat_handled=handled)
    if not question.answerable:
        return Judgement(question.kind, False, answered)
    text = normalized(answer.text)
    quote_hit = answered and any(_quote_holds(text, g, question.match_all) for g in question.gold)
    citation_hit = answered and any(_cites(answer, g) for g in question.gold)
    return Judgement(question.kind, True, answered, quote_hit, citation_hit)


# --- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindFigures:
    """The answer-level figures of one group of questions."""

    n: int
    right: float
    quote_hit: float
    citation_at_1: float
    wrong_refusals: float


def _figures(judgements: Sequence[Judgement]) -> KindFigures:
    n = len(judgements)

    def share(flag: Callable[[Judgement], bool]) -> float:
        return sum(1 for j in judgements if flag(j)) / n if n else 0.0

    return KindFigures(
        n=n,
        right=share(lambda j: j.right),
        quote_hit=share(lambda j: j.answered and j.quote_hit),
        citation_at_1=share(lambda j: j.answered and j.citation_hit),
        wrong_refusals=share(lambda j: not j.answered),
    )


@dataclass(frozen=True)
class NaturalReport:
    """``citebot eval`` on natural questions or conversations."""

    questions: int
    answerable: KindFigures
    # Per question kind (or per turn type for conversations).
    by_kind: dict[str, KindFigures]
    # Per unanswerable kind: n and the share refused.
    refused: dict[str, tuple[int, float]]
    chat_handled: tuple[int, int]
    latency_p50: float
    latency_p95: float
    # Each question's outcome, for looking at failures.
    details: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object (without the per-question details)."""
        data = dataclasses.asdict(self)
        data.pop("details")
        return data


def _report(rows: Sequence[tuple[NaturalQuestion, Judgement, Answer, float]]) -> NaturalReport:
    answerable = [j for _, j, _, _ in rows if j.answerable]
    by_kind: dict[str, list[Judgement]] = {}
    refused: dict[str, list[bool]] = {}
    chat: list[bool] = []
    for q, j, _, _ in rows:
        if j.answerable:
            by_kind.setdefault(q.kind, []).append(j)
        elif q.kind == CHAT_KIND:
            chat.append(j.chat_handled)
        else:
            refused.setdefault(q.kind, []).append(not j.answered)
    details = tuple(
        {"id": q.qid, "kind": q.kind, "question": q.question, "right": j.right,
         "answered": j.answered, "quote_hit": j.quote_hit, "citation_hit": j.citation_hit,
         "reply_kind": a.kind, "answer": a.text,
         "cited": [(c.ref.article_id, c.ref.number) for c in a.citations][:3]}
        for q, j, a, _ in rows
    )
    seconds = [s for _, _, _, s in rows]
    return NaturalReport(
        questions=len(rows),
        answerable=_figures(answerable),
        by_kind={k: _figures(v) for k, v in sorted(by_kind.items())},
        refused={k: (len(v), sum(v) / len(v)) for k, v in sorted(refused.items())},
        chat_handled=(sum(chat), len(chat)),
        latency_p50=percentile(seconds, 0.5),
        latency_p95=percentile(seconds, 0.95),
        details=details,
    )


def evaluate_natural(
    engine: Engine,
    questions: Sequence[NaturalQuestion],
    progress: Callable[[int, int], None] | None = None,
) -> NaturalReport:
    """Ask every question in a fresh conversation and judge each reply."""
    rows = []
    for i, q in enumerate(questions, start=1):
        trace = engine.trace(q.question)
        answer = trace.reply.answer
        rows.append((q, judge(q, answer), answer, trace.seconds))
        if progress is not None:
            progress(i, len(questions))
    return _report(rows)


def evaluate_natural_dialogs(
    engine: Engine,
    dialogs: Sequence[NaturalDialog],
    progress: Callable[[int, int], None] | None = None,
) -> NaturalReport:
    """Run each conversation in order in one fresh conversation and judge every turn."""
    rows = []
    for i, dialog in enumerate(dialogs, start=1):
        conversation = Conversation()
        for turn in dialog.turns:
            trace = engine.trace(turn.question, conversation)
            conversation = trace.reply.conversation
            answer = trace.reply.answer
            rows.append((turn, judge(turn, answer), answer, trace.seconds))
        if progress is not None:
            progress(i, len(dialogs))
    return _report(rows)


def format_natural_report(report: NaturalReport, *, dialogs: bool = False) -> str:
    """The report as a plain-text table: overall, per kind, refusals and small talk."""
    unit = "turns" if dialogs else "questions"
    lines = [f"{report.questions} {unit}, {report.answerable.n} answerable"]
    header = f"{'kind':16s} {'n':>4s} {'right':>7s} {'quote':>7s} {'cite@1':>7s} {'refused':>8s}"
    lines.append(header)

    def row(name: str, f: KindFigures) -> str:
        return (f"{name:16s} {f.n:4d} {f.right:7.3f} {f.quote_hit:7.3f} "
                f"{f.citation_at_1:7.3f} {f.wrong_refusals:8.3f}")

    lines.append(row("answerable", report.answerable))
    for kind, figures in report.by_kind.items():
        lines.append(row(f"  {kind}", figures))
    for kind, (n, share) in report.refused.items():
        lines.append(f"{kind + ' refused':28s} {n:4d} {share:7.3f}")
    handled, total = report.chat_handled
    if total:
        lines.append(f"{'small talk handled':28s} {total:4d} {handled:7d}")
    lines.append(
        f"latency per {unit[:-1]}: p50 {1000 * report.latency_p50:.0f} ms, "
        f"p95 {1000 * report.latency_p95:.0f} ms"
    )
    return "\n".join(lines)
