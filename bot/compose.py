"""Answer composition: pick the sentences that answer a question and cite their paragraphs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.answer_type import Asked, asked, type_features
from bot.models import Citation, Quote
from bot.question import QuestionTerms, stems
from bot.select import Selector, choose
from index import Hit, SentenceSpan, sentence_spans

# How much idf-weighted overlap with the question's terms counts next to the dense sentence
# similarity when ranking sentences (both lie in [0, 1]).
LEXICAL_WEIGHT = 1.2
# Bonus for a sentence that holds the kind of answer asked for (``answer_type.KINDS`` order:
# number, date, person, place, reason, quote), relative to the dense weight. This and
# LEXICAL_WEIGHT were fitted by benchmarks/fit_answer_sentences.py on SQuAD v1.1 training
# questions (5,000 of 70 articles, seed 7): SQuAD questions share the answer's words, so the
# kind-of-answer bonuses are small and lexical overlap counts most.
TYPE_WEIGHTS = (0.08, 0.21, 0.14, 0.24, 0.20, 0.05)
# A second sentence of the same paragraph is quoted only if it scores this close to the best.
EXTRA_SENTENCE_RATIO = 0.85
# Another paragraph is cited only if its best sentence scores this close to the main one, and
# its retrieval score is at most EXTRA_CITATION_GAP (log-odds) below the main paragraph's.
EXTRA_CITATION_RATIO = 0.95
EXTRA_CITATION_GAP = 1.5
# With the selector, scores are logits: a second sentence is quoted within this margin of the
# best, another paragraph cited within this one (both tighter than the ratios above, since
# an extra quote must answer too).
SELECTED_SENTENCE_MARGIN = 1.0
SELECTED_CITATION_MARGIN = 0.5
# Paragraphs whose word 5-gram sets overlap at least this much are the same text (a wire story
# carried by two outlets) and are cited once.
DUPLICATE_JACCARD = 0.5
SHINGLE = 5


@dataclass(frozen=True)
class SentenceChoice:
    """A sentence of a hit, with the evidence for it answering the question."""

    hit: Hit
    start: int
    end: int
    dense: float
    coverage: float
    score: float
    # The answer selector's own score of the sentence, when it read it.
    selected: float | None = None

    @property
    def text(self) -> str:
        """The sentence, verbatim."""
        return self.hit.ref.text[self.start : self.end]


@dataclass(frozen=True)
class Draft:
    """A composed (not yet judged) answer: the quotes, their citations and further results."""

    quotes: tuple[Quote, ...]
    citations: tuple[Citation, ...]
    more: tuple[Citation, ...]
    main: SentenceChoice | None


def hit_sentences(hit: Hit) -> tuple[SentenceSpan, ...]:
    """The hit's sentence spans; split here when the index did not score any."""
    if hit.sentences:
        return hit.sentences
    return tuple(SentenceSpan(start, end) for start, end in sentence_spans(hit.ref.text))


def sentence_score(dense: float, coverage: float, kinds: Sequence[float]) -> float:
    """How well a sentence answers: similarity, shared terms, and the kind of answer it holds."""
    return (
        dense
        + LEXICAL_WEIGHT * coverage
        + sum(w * k for w, k in zip(TYPE_WEIGHTS, kinds, strict=True))
    )


def rank_sentences(
    terms: QuestionTerms, hit: Hit, what: Asked | None = None
) -> list[SentenceChoice]:
    """The hit's sentences, best answer first."""
    what = what if what is not None else asked(terms.text)
    choices = []
    for span in hit_sentences(hit):
        text = hit.ref.text[span.start : span.end]
        coverage = terms.coverage(stems(text))
        score = sentence_score(span.score, coverage, type_features(what, text))
        choices.append(
            SentenceChoice(
                hit=hit,
                start=span.start,
                end=span.end,
                dense=span.score,
                coverage=coverage,
                score=score,
            )
        )
    choices.sort(key=lambda c: (-c.score, c.start))
    return choices


def _shingles(text: str) -> set[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text.lower())
    if len(tokens) < SHINGLE:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


def near_duplicate(a: str, b: str, threshold: float = DUPLICATE_JACCARD) -> bool:
    """Whether two paragraphs are (nearly) the same text, by word 5-gram Jaccard overlap."""
    sa, sb = _shingles(a), _shingles(b)
    if not sa or not sb:
        return a.strip() == b.strip()
    return len(sa & sb) / len(sa | sb) >= threshold


def _citation(n: int, hit: Hit, spans: Sequence[tuple[int, int]]) -> Citation:
    return Citation(n=n, ref=hit.ref, score=hit.score, quotes=tuple(sorted(spans)))


def _close(best: float, other: float, ratio: float, margin: float | None) -> bool:
    """Whether ``other`` scores close enough to ``best``: within a share of it, or (for the
    selector's logit-scale scores) within an absolute margin."""
    if margin is not None:
        return other >= best - margin
    return best > 0 and other >= ratio * best


def _quoted(
    ranked: list[SentenceChoice], max_sentences: int, margin: float | None = None
) -> list[SentenceChoice]:
    """The best sentence and, if close behind, the next best ones, in paragraph order."""
    if not ranked:
        return []
    best = ranked[0]
    picked = [best]
    for choice in ranked[1:max_sentences]:
        if _close(best.score, choice.score, EXTRA_SENTENCE_RATIO, margin):
            picked.append(choice)
    return sorted(picked, key=lambda c: c.start)


def compose(
    terms: QuestionTerms,
    hits: Sequence[Hit],
    *,
    max_citations: int = 3,
    max_sentences: int = 2,
    max_more: int = 5,
    selector: Selector | None = None,
) -> Draft:
    """Quote the best sentences of the top hit (and of close runners-up) with citations.

    With a ``selector``, the first paragraphs' likeliest sentences are read with the question
    and the best of them decides the paragraph that answers (bot/select.py).
    """
    distinct: list[Hit] = []
    for hit in hits:
        if not hit.ref.text.strip():
            continue
        if any(near_duplicate(hit.ref.text, kept.ref.text) for kept in distinct):
            continue
        distinct.append(hit)
    if not distinct:
        return Draft(quotes=(), citations=(), more=(), main=None)

    what = asked(terms.text)
    ranked = {hit.ref.paragraph_id: rank_sentences(terms, hit, what) for hit in distinct}
    sentence_margin = citation_margin = None
    if selector is not None:
        distinct, ranked = choose(selector, terms.text, distinct, ranked)
        sentence_margin, citation_margin = SELECTED_SENTENCE_MARGIN, SELECTED_CITATION_MARGIN
    main_hit = distinct[0]
    main_sentences = _quoted(ranked[main_hit.ref.paragraph_id], max_sentences, sentence_margin)
    if not main_sentences:
        return Draft(quotes=(), citations=(), more=(), main=None)
    main = ranked[main_hit.ref.paragraph_id][0]

    cited: list[tuple[Hit, list[SentenceChoice]]] = [(main_hit, main_sentences)]
    for hit in distinct[1:]:
        if len(cited) >= max_citations:
            break
        best = ranked[hit.ref.paragraph_id][:1]
        close = hit.score >= main_hit.score - EXTRA_CITATION_GAP
        if best and close and _close(main.score, best[0].score, EXTRA_CITATION_RATIO,
                                     citation_margin):
            cited.append((hit, best))

    quotes: list[Quote] = []
    citations: list[Citation] = []
    for n, (hit, chosen) in enumerate(cited, start=1):
        citations.append(_citation(n, hit, [(c.start, c.end) for c in chosen]))
        quotes.extend(Quote(text=c.text, citation=n) for c in chosen)

    cited_ids = {hit.ref.paragraph_id for hit, _ in cited}
    rest = [h for h in distinct if h.ref.paragraph_id not in cited_ids][:max_more]
    more = [
        _citation(
            len(citations) + i, hit, [(c.start, c.end) for c in ranked[hit.ref.paragraph_id][:1]]
        )
        for i, hit in enumerate(rest, start=1)
    ]
    return Draft(quotes=tuple(quotes), citations=tuple(citations), more=tuple(more), main=main)
