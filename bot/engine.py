"""The answering engine: from a question and its conversation to a quoted, cited answer."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from bot.abstain import DEFAULT_CALIBRATION, SELECTOR_CALIBRATION, Calibration, Evidence, evidence
from bot.answer_type import misses_kind
from bot.compose import Draft, SentenceChoice, compose
from bot.followup import Resolution, blend, personal, resolve, without_namesakes
from bot.followup_answers import answer_move
from bot.followup_judge import FOLLOWUP_CONFIDENCE, answered_in_article, followup_evidence
from bot.mismatch import missing_numbers
from bot.models import NEW_CONVERSATION, Answer, CitedParagraph, Conversation, Reply, Turn
from bot.question import (
    QuestionTerms,
    has_words,
    normalize_question,
    question_terms,
    stems,
    unseen_weight,
)
from bot.rerank import Reranker
from bot.selector import AnswerSelector
from bot.settings import Settings
from bot.smalltalk import small_talk, without_pleasantries
from bot.typos import correct_spelling
from index import (
    ArticleInfo,
    Embedder,
    Hit,
    IndexStats,
    KnowledgeBase,
    Paragraph,
    open_knowledge_base,
)

# Paragraphs retrieved per question: the answer cites at most a few, the rest are "more".
SEARCH_DEPTH = 10
# Candidates taken from each of a follow-up's two searches before they are blended.
BLEND_DEPTH = 30
# Articles whose vocabulary is kept for follow-up checks (a conversation touches few).
_VOCABULARY_CACHE = 256


@dataclass(frozen=True)
class Trace:
    """Everything behind one reply, for evaluation and debugging."""

    reply: Reply
    resolution: Resolution | None
    hits: tuple[Hit, ...]
    evidence: Evidence | None
    seconds: float


@dataclass(frozen=True)
class _Searched:
    """One search of a resolved question: its ranking, the composed answer and its judgement."""

    hits: list[Hit]
    draft: Draft
    found: Evidence | None
    confidence: float

    def confident(self, threshold: float) -> bool:
        """Whether the answer is sure enough to be given."""
        return self.found is not None and self.confidence >= threshold


class _CorpusView:
    """The knowledge base as follow-up resolution sees it, with article vocabularies cached."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._words: OrderedDict[tuple[str, str], set[str]] = OrderedDict()
        self._lock = threading.Lock()

    def article_paragraph_ids(self, article_id: str) -> Sequence[int]:
        return self.kb.article_paragraph_ids(article_id)

    def search(self, query: str, k: int = SEARCH_DEPTH) -> list[Hit]:
        return self.kb.search(query, k)

    def hit_for(self, paragraph_id: int) -> Hit | None:
        return self.kb.hit_for(paragraph_id)

    def article_words(self, article_id: str) -> set[str]:
        key = (self.kb.generation, article_id)
        with self._lock:
            if key in self._words:
                self._words.move_to_end(key)
                return self._words[key]
        found: set[str] = set()
        for paragraph in self.kb.article_paragraphs(article_id):
            found |= stems(paragraph.text)
        with self._lock:
            self._words[key] = found
            while len(self._words) > _VOCABULARY_CACHE:
                self._words.popitem(last=False)
        return found

    def term_weights(self, terms: Iterable[str]) -> Mapping[str, float]:
        return self.kb.term_weights(terms)

    def unseen_weight(self) -> float:
        return unseen_weight(self.kb.term_weights)


class Engine:
    """Answers questions over a knowledge base; safe to call from several threads at once."""

    def __init__(
        self,
        settings: Settings,
        kb: KnowledgeBase,
        reranker: Reranker | None = None,
        calibration: Calibration | None = None,
        selector: AnswerSelector | None = None,
    ) -> None:
        self.settings = settings
        self.kb = kb
        self.reranker = reranker
        if selector is None and settings.answer.selector:
            selector = AnswerSelector(threads=settings.embedding.threads)
        # A source checkout without the model file still answers, from similarity alone.
        self.selector = selector if selector is not None and selector.available() else None
        if calibration is None:
            calibration = DEFAULT_CALIBRATION if self.selector is None else SELECTOR_CALIBRATION
        self.calibration = calibration
        self._corpus = _CorpusView(kb)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Engine:
        """Open the configured index (the models load lazily, on the first question)."""
        kb = open_knowledge_base(settings.knowledge_base, embedder)
        reranker = Reranker.from_settings(settings.rerank, device=settings.embedding.device)
        return cls(settings, kb, reranker)

    def ask(self, question: str, conversation: Conversation = NEW_CONVERSATION) -> Reply:
        """Answer ``question`` in the context of ``conversation``; the reply carries both on."""
        return self.trace(question, conversation).reply

    def trace(
        self, question: str, conversation: Conversation = NEW_CONVERSATION, *, history: bool = True
    ) -> Trace:
        """Answer like ``ask`` and keep what led to the answer; ``history=False`` ignores it."""
        started = time.perf_counter()
        text = normalize_question(question)
        if not has_words(text):
            answer = Answer(question=text, abstained=True)
            return Trace(Reply(answer, conversation), None, (), None, time.perf_counter() - started)

        # --- small talk (bot/smalltalk.py) ---
        # "hi", "thanks", "what can you do?" get a reply of their own, and the conversation is
        # passed on as it was, so a "thanks" between two questions keeps the follow-up's thread.
        talk = small_talk(text, self)
        if talk is not None:
            return Trace(Reply(talk, conversation), None, (), None, time.perf_counter() - started)
        text = without_pleasantries(text)  # "hi, who won?" is searched as "who won?"
        # --- end of small talk ---

        # Misspelled words are searched and judged as the words the articles use.
        searched = correct_spelling(
            text, self.kb.spelling_corrections, self.kb.term_weights, self._corpus.unseen_weight()
        )
        if history:
            resolution = resolve(searched, conversation, self._corpus)
        else:
            resolution = Resolution(question=searched, query=searched)
        answer_settings = self.settings.answer
        if resolution.move is not None:
            # "tell me more", "who said that?", "what is this article about?" quote what the
            # conversation points at; a move that cannot be made here is searched as asked.
            moved = answer_move(
                text, resolution, conversation, self._corpus, answer_settings.max_sentences
            )
            if moved is not None:
                return self._reply(
                    moved.answer, searched, resolution, conversation, moved.hits, None, started
                )
            resolution = resolve(searched, conversation, self._corpus, moves=False)
        threshold = answer_settings.abstain_threshold
        result = self._search(resolution)
        if resolution.focus and not result.confident(threshold):
            # The conversation's articles plainly have nothing on this: asked as a new topic,
            # another article may answer it.
            alone = Resolution(question=resolution.question, query=resolution.question,
                               new_topic=True)
            retry = self._search(alone)
            if retry.confident(threshold):
                resolution, result = alone, retry
        if not result.confident(threshold) and resolution.query == resolution.question:
            # Real words the articles never use may be typos too ("fond" for "found"); asked
            # with those corrected as well, a confident answer is taken.
            bolder = correct_spelling(
                searched, partial(self.kb.spelling_corrections, real_words=True),
                self.kb.term_weights, self._corpus.unseen_weight(),
            )
            if bolder != searched:
                second = dataclasses.replace(resolution, question=bolder, query=bolder)
                retry = self._search(second)
                if retry.confident(threshold):
                    searched, resolution, result = bolder, second, retry
        hits, draft, found, confidence = result.hits, result.draft, result.found, result.confidence
        if not result.confident(threshold):
            # Nothing cited; the closest passages stay available behind "More".
            answer = Answer(
                question=text,
                abstained=True,
                more=tuple(draft.citations) + tuple(draft.more),
                confidence=confidence,
            )
        else:
            answer = Answer(
                question=text,
                abstained=False,
                quotes=draft.quotes,
                citations=draft.citations,
                more=draft.more,
                confidence=confidence,
            )
        return self._reply(answer, searched, resolution, conversation, hits, found, started)

    def _search(self, resolution: Resolution) -> _Searched:
        """Retrieve for a resolved question, compose the answer and judge it."""
        hits, expanded = self._retrieve(resolution)
        if self.reranker is not None and hits:
            hits = self.reranker.rerank(resolution.query, hits)[:SEARCH_DEPTH]
        terms = question_terms(resolution.question, self.kb.term_weights, resolution.context)
        answer_settings = self.settings.answer
        draft = compose(
            terms,
            hits,
            max_citations=answer_settings.max_citations,
            max_sentences=answer_settings.max_sentences,
            selector=self.selector,
        )
        found, confidence = self._judge(resolution, terms, draft.main, expanded)
        main = draft.main
        if main is not None and hits and hits[0].ref.paragraph_id != main.hit.ref.paragraph_id:
            # The selector chose another paragraph to answer from: it leads the ranking too.
            hits = [main.hit, *(h for h in hits if h.ref.paragraph_id != main.hit.ref.paragraph_id)]
        if main is not None and (
            missing_numbers(resolution.question, f"{main.hit.ref.title or ''}\n{main.hit.ref.text}")
            or misses_kind(resolution.question, " ".join(quote.text for quote in draft.quotes))
        ):
            # Near misses, however well the rest matches: the question states a number the
            # paragraph never does ("super bowl 51" answered from Super Bowl 50), or asks when
            # or how many and the quotes hold no figure, time or amount at all.
            confidence = 0.0
        return _Searched(hits, draft, found, confidence)

    def _reply(
        self,
        answer: Answer,
        question: str,
        resolution: Resolution,
        conversation: Conversation,
        hits: Sequence[Hit],
        found: Evidence | None,
        started: float,
    ) -> Trace:
        """The trace of an answer, with the turn it adds to the conversation."""
        turn = Turn(
            question=question,
            query=resolution.query,
            cited=tuple(CitedParagraph.of(c.ref) for c in answer.citations),
            abstained=answer.abstained,
            # What was quoted: "he" and "who said that?" in the next question may point at it.
            answer=answer.text,
        )
        reply = Reply(answer, conversation.add(turn, self.settings.conversation.max_turns))
        return Trace(reply, resolution, tuple(hits), found, time.perf_counter() - started)

    def _judge(
        self,
        resolution: Resolution,
        terms: QuestionTerms,
        main: SentenceChoice | None,
        expanded: Mapping[int, Hit],
    ) -> tuple[Evidence | None, float]:
        """The evidence for the main quote and the calibrated confidence in it."""
        if main is None:
            return None, 0.0
        found = evidence(terms, main)
        confidence = self.calibration.confidence(found)
        if resolution.focus and main.hit.ref.article_id in resolution.focus:
            # A follow-up staying on the conversation's article is judged on its own words
            # (bot/followup_judge.py): the names it borrowed match that article by construction.
            own = question_terms(resolution.question, self.kb.term_weights)
            words = self._corpus.article_words(main.hit.ref.article_id)
            fit = followup_evidence(own, main.hit.ref.text, words, main.dense)
            certain = resolution.returned or personal(resolution.question)
            if answered_in_article(fit, points_back=resolution.refers, certain=certain):
                return found, max(confidence, FOLLOWUP_CONFIDENCE)
            return found, confidence
        if resolution.context:
            # A follow-up is also judged as the question it was resolved to ("what did he say
            # about his family?" + the names it refers to), on the expanded search's signals.
            in_context = self._evidence_in_context(resolution, main, expanded)
            if in_context is not None:
                score = self.calibration.confidence(in_context)
                if score > confidence:
                    return in_context, score
        return found, confidence

    def _retrieve(self, resolution: Resolution) -> tuple[list[Hit], dict[int, Hit]]:
        """Search the question, and for a follow-up with context also the expanded query.

        Returns the ranking and the expanded search's hits by paragraph id (empty without one).
        """
        prior = resolution.prior or None
        # The cross-encoder, when on, gets its top_k candidates to reorder.
        depth = max(SEARCH_DEPTH, self.reranker.settings.top_k if self.reranker else 0)
        if resolution.query == resolution.question:
            hits, by_id = self.kb.search(resolution.question, depth, prior=prior), {}
        else:
            alone = self.kb.search(resolution.question, max(depth, BLEND_DEPTH), prior=prior)
            expanded = self.kb.search(resolution.query, max(depth, BLEND_DEPTH), prior=prior)
            hits = blend(alone, expanded, depth, resolution.weight)
            by_id = {h.ref.paragraph_id: h for h in expanded}
        if resolution.person:
            # "when did he die?" about Nikola Tesla: not "Milutin Tesla died ...".
            hits = without_namesakes(hits, resolution.person)
        return hits, by_id

    def _evidence_in_context(
        self, resolution: Resolution, main: SentenceChoice, expanded: Mapping[int, Hit]
    ) -> Evidence | None:
        """Evidence for the quoted sentence as an answer to the expanded query."""
        hit = expanded.get(main.hit.ref.paragraph_id)
        if hit is None:
            return None
        dense = next((s.score for s in hit.sentences if (s.start, s.end) == (main.start, main.end)),
                     main.dense)
        terms = question_terms(resolution.query, self.kb.term_weights)
        coverage = terms.coverage(stems(main.text))
        choice = SentenceChoice(hit, main.start, main.end, dense, coverage, dense + coverage,
                                main.selected)
        return evidence(terms, choice)

    def paragraph(self, article_id: str, number: int) -> Paragraph | None:
        """One indexed paragraph (e.g. a citation's neighbour), or None."""
        return self.kb.paragraph(article_id, number)

    def stats(self) -> IndexStats:
        """What the index holds."""
        return self.kb.stats()

    def latest_articles(self, n: int) -> tuple[ArticleInfo, ...]:
        """The ``n`` most recent articles."""
        return self.kb.latest_articles(n)

    def paragraph_count(self, article_id: str) -> int:
        """How many paragraphs of an article are indexed (0 when it is not)."""
        return len(self.kb.article_paragraph_ids(article_id))

    def refresh(self) -> bool:
        """Serve a newer index generation if one was built (safe while answering)."""
        return self.kb.refresh()
