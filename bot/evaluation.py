"""Evaluation: retrieval metrics, and ``citebot eval`` over question sets and dialogs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.metrics import percentile
from bot.models import Answer, Conversation
from index import CitebotError, Hit

if TYPE_CHECKING:
    from bot.engine import Engine

DEFAULT_KS = (1, 5, 10)
# Paragraphs ranked per question (R@10, MRR@10).
DEPTH = 10


def recall_at(
    ranked_ids_per_question: Sequence[Sequence[Hashable]],
    gold_ids: Sequence[Hashable],
    ks: Sequence[int] = DEFAULT_KS,
    mrr_depth: int = 10,
) -> dict[str, float]:
    """Recall@k for each k (gold id among the first k) and MRR@``mrr_depth``, as ``{"R@1": ...}``.

    Each question has one gold id; questions with an empty ranking count as misses.
    """
    if len(ranked_ids_per_question) != len(gold_ids):
        raise ValueError("one ranking per gold id is needed")
    total = len(gold_ids)
    hits = {k: 0 for k in ks}
    reciprocal = 0.0
    for ranked, gold in zip(ranked_ids_per_question, gold_ids, strict=True):
        rank = next((i for i, pid in enumerate(ranked, start=1) if pid == gold), None)
        if rank is None:
            continue
        for k in ks:
            hits[k] += rank <= k
        if rank <= mrr_depth:
            reciprocal += 1.0 / rank
    metrics = {f"R@{k}": hits[k] / total if total else 0.0 for k in ks}
    metrics[f"MRR@{mrr_depth}"] = reciprocal / total if total else 0.0
    return metrics


# --- question sets (SQuAD-style JSON Lines) --------------------------------------------------


@dataclass(frozen=True)
class EvalQuestion:
    """A question with its gold paragraph (None when the articles don't answer it)."""

    question: str
    gold: tuple[str, int] | None
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalReport:
    """What ``citebot eval`` measures on a question set."""

    questions: int
    answerable: int
    # Per method ("citebot", "bm25", "dense"): R@1/5/10 and MRR@10 on the answerable questions.
    retrieval: dict[str, dict[str, float]]
    # Share of answerable questions answered, and of those whose answer quotes a gold answer.
    answered: float
    answer_hit: float
    # Share of questions without a gold paragraph on which citebot abstained (None if none).
    abstained_unanswerable: float | None
    latency_p50: float
    latency_p95: float

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return dataclasses.asdict(self)


_Record = TypeVar("_Record")


class EvalFormatError(CitebotError):
    """A question file that cannot be read, or a line of it that is not a usable question."""


def read_records(
    path: Path, parse: Callable[[dict[str, Any]], _Record], kind: str, limit: int
) -> list[_Record]:
    """Parse each non-blank JSON line of ``path``; a bad line raises naming its number."""
    out: list[_Record] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                out.append(parse(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise EvalFormatError(f"{path}:{number}: not a {kind} record ({exc})") from None
            if limit and len(out) >= limit:
                break
    return out


def _question(record: dict[str, Any]) -> EvalQuestion:
    index = record.get("paragraph_index")
    gold = None if index is None else _gold(str(record["article_id"]), index)
    answers = tuple(str(a) for a in record.get("answers") or ())
    return EvalQuestion(str(record["question"]), gold, answers)


def load_questions(path: Path, limit: int = 0) -> list[EvalQuestion]:
    """Questions of a JSON Lines file: question, article_id, paragraph_index, answers."""
    return read_records(path, _question, "question", limit)


def _units(hits: Sequence[Hit]) -> list[tuple[str, int]]:
    return [(h.ref.article_id, h.ref.number) for h in hits]


def _quotes_answer(answer: Answer, golds: Sequence[str]) -> bool:
    text = answer.text.lower()
    return bool(text) and any(g.strip() and g.strip().lower() in text for g in golds)


def evaluate_questions(
    engine: Engine,
    questions: Sequence[EvalQuestion],
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Ask every question on its own; measure retrieval, answers, abstention and latency."""
    rankings: dict[str, list[list[tuple[str, int]]]] = {m: [] for m in ("citebot", "bm25", "dense")}
    golds: list[tuple[str, int]] = []
    answered = hit = unanswerable = abstained = 0
    seconds: list[float] = []
    for i, q in enumerate(questions, start=1):
        trace = engine.trace(q.question, history=False)
        seconds.append(trace.seconds)
        answer = trace.reply.answer
        if q.gold is None:
            unanswerable += 1
            abstained += answer.abstained
        else:
            golds.append(q.gold)
            rankings["citebot"].append(_units(trace.hits))
            for mode in ("bm25", "dense"):
                rankings[mode].append(_units(engine.kb.search(q.question, DEPTH, mode=mode)))
            answered += not answer.abstained
            hit += (not answer.abstained) and _quotes_answer(answer, q.answers)
        if progress is not None:
            progress(i, len(questions))
    n = len(golds)
    return EvalReport(
        questions=len(questions),
        answerable=n,
        retrieval={m: recall_at(r, golds) for m, r in rankings.items()} if n else {},
        answered=answered / n if n else 0.0,
        answer_hit=hit / n if n else 0.0,
        abstained_unanswerable=abstained / unanswerable if unanswerable else None,
        latency_p50=percentile(seconds, 0.5),
        latency_p95=percentile(seconds, 0.95),
    )


def format_report(report: EvalReport) -> str:
    """The report as a small plain-text table."""
    lines = [f"{report.questions} questions, {report.answerable} with a gold paragraph"]
    if report.retrieval:
        lines.append(f"{'method':18s} {'R@1':>7s} {'R@5':>7s} {'R@10':>7s} {'MRR@10':>7s}")
        names = {"citebot": "citebot (answers)", "bm25": "BM25 only", "dense": "dense only"}
        for method, metrics in report.retrieval.items():
            lines.append(
                f"{names.get(method, method):18s} "
                + " ".join(f"{metrics[m]:7.4f}" for m in ("R@1", "R@5", "R@10", "MRR@10"))
            )
        lines.append(f"answered (of answerable):       {100 * report.answered:5.1f}%")
        lines.append(f"answer quotes a gold answer:    {100 * report.answer_hit:5.1f}%")
    if report.abstained_unanswerable is not None:
        lines.append(f"abstained (no gold paragraph):  {100 * report.abstained_unanswerable:5.1f}%")
    lines.append(
        f"latency per question: p50 {1000 * report.latency_p50:.0f} ms, "
        f"p95 {1000 * report.latency_p95:.0f} ms"
    )
    return "\n".join(lines)


# --- conversations (CoQA-style dialogs) -------------------------------------------------------


@dataclass(frozen=True)
class DialogTurn:
    """One question of a dialog with its gold paragraph (None when unanswerable)."""

    question: str
    gold: tuple[str, int] | None


@dataclass(frozen=True)
class Dialog:
    """A conversation about one document."""

    dialog_id: str
    turns: tuple[DialogTurn, ...]


@dataclass(frozen=True)
class DialogReport:
    """Evidence retrieval per turn: question alone, citebot's history handling, "stay" baselines."""

    dialogs: int
    first_turns: int
    followups: int
    # method -> {"R@1", "R@5"} on follow-up turns (turn 2 onwards with a gold paragraph).
    followup: dict[str, dict[str, float]]
    # The same on first turns, which have no history (alone and citebot agree there).
    first: dict[str, float]
    # Share of follow-up turns citebot answered rather than abstained on.
    followup_answered: float
    latency_p50: float
    latency_p95: float

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return dataclasses.asdict(self)


def _gold(doc: str, index: object) -> tuple[str, int] | None:
    return None if index is None else (doc, int(index))  # type: ignore[call-overload]


def _dialog(record: dict[str, Any]) -> Dialog:
    doc = str(record["doc_id"])
    turns = tuple(
        DialogTurn(str(t["question"]), _gold(doc, t.get("paragraph_index")))
        for t in record["turns"]
    )
    return Dialog(str(record.get("id", doc)), turns)


def load_dialogs(path: Path, limit: int = 0) -> list[Dialog]:
    """Dialogs of a JSON Lines file: doc_id and turns with question and paragraph_index."""
    return read_records(path, _dialog, "dialog", limit)


def _rank(units: Sequence[tuple[str, int]], gold: tuple[str, int]) -> int | None:
    return next((i for i, u in enumerate(units, start=1) if u == gold), None)


def evaluate_dialogs(
    engine: Engine,
    dialogs: Sequence[Dialog],
    progress: Callable[[int, int], None] | None = None,
) -> DialogReport:
    """Replay each dialog; citebot's history is its own earlier answers, never the gold."""
    ranks: dict[str, list[int | None]] = {"alone": [], "citebot": [], "stay (gold)": [],
                                          "stay (citebot)": []}
    first: list[int | None] = []
    answered = followups = 0
    seconds: list[float] = []
    for i, dialog in enumerate(dialogs, start=1):
        conversation = Conversation()
        previous_gold: tuple[str, int] | None = None
        previous_top: tuple[str, int] | None = None
        for number, turn in enumerate(dialog.turns):
            alone = _units(engine.trace(turn.question, history=False).hits)
            trace = engine.trace(turn.question, conversation)
            seconds.append(trace.seconds)
            conversation = trace.reply.conversation
            ranked = _units(trace.hits)
            if turn.gold is not None:
                if number == 0:
                    first.append(_rank(ranked, turn.gold))
                else:
                    followups += 1
                    answered += not trace.reply.answer.abstained
                    ranks["alone"].append(_rank(alone, turn.gold))
                    ranks["citebot"].append(_rank(ranked, turn.gold))
                    ranks["stay (gold)"].append(1 if previous_gold == turn.gold else None)
                    ranks["stay (citebot)"].append(1 if previous_top == turn.gold else None)
            previous_gold = turn.gold
            previous_top = ranked[0] if ranked else None
        if progress is not None:
            progress(i, len(dialogs))

    def recall(values: list[int | None]) -> dict[str, float]:
        n = len(values)
        return {f"R@{k}": sum(1 for r in values if r is not None and r <= k) / n if n else 0.0
                for k in (1, 5)}

    return DialogReport(
        dialogs=len(dialogs),
        first_turns=len(first),
        followups=followups,
        followup={m: recall(v) for m, v in ranks.items()},
        first=recall(first),
        followup_answered=answered / followups if followups else 0.0,
        latency_p50=percentile(seconds, 0.5),
        latency_p95=percentile(seconds, 0.95),
    )


def format_dialog_report(report: DialogReport) -> str:
    """The conversational report as a small plain-text table."""
    lines = [
        f"{report.dialogs} dialogs: {report.first_turns} first turns, "
        f"{report.followups} follow-up turns with a gold paragraph",
        f"{'follow-up turns':28s} {'R@1':>7s} {'R@5':>7s}",
    ]
    labels = {
        "alone": "(a) question alone",
        "citebot": "(b) citebot with history",
        "stay (gold)": "(c) stay on gold previous",
        "stay (citebot)": "(c') stay on own previous",
    }
    for method, m in report.followup.items():
        lines.append(f"{labels.get(method, method):28s} {m['R@1']:7.4f} {m['R@5']:7.4f}")
    first = report.first
    lines.append(f"{'first turns (no history)':28s} {first['R@1']:7.4f} {first['R@5']:7.4f}")
    lines.append(f"follow-ups answered (not abstained): {100 * report.followup_answered:.1f}%")
    lines.append(
        f"latency per turn: p50 {1000 * report.latency_p50:.0f} ms, "
        f"p95 {1000 * report.latency_p95:.0f} ms"
    )
    return "\n".join(lines)
