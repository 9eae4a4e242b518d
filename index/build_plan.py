"""Planning a build: what changed since the serving generation, and every new row's id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from index.build_records import SpilledRecords
from index.models import Article
from index.sentences import sentence_spans
from index.storage import ArticleRecord, ParagraphRecord, PreviousGeneration, Shard


def text_hash(text: str) -> str:
    """Hex sha256 of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(article: Article) -> str:
    """Hash of everything stored about an article: an unchanged hash means nothing to redo."""
    payload = [
        article.title,
        article.url,
        article.date,
        article.source,
        # A page is hashed only where there is one, so articles without pages keep the hashes
        # older citebots gave them and are not all reported as updated.
        [[p.number, p.text, p.section, *([p.page] if p.page is not None else [])]
         for p in article.paragraphs],
    ]
    return text_hash(json.dumps(payload, ensure_ascii=False))


class Counted(Iterable[Article]):
    """Articles passed on one by one, counted."""

    def __init__(self, articles: Iterable[Article]) -> None:
        self._articles = articles
        self.count = 0

    def __iter__(self) -> Iterator[Article]:
        for article in self._articles:
            self.count += 1
            yield article


@dataclass
class BuildPlan:
    """A build's records (spilled to disk) and what changed since the serving generation."""

    records: SpilledRecords
    # (article id, source, "added" | "updated" | "unchanged") of every article.
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


def plan_build(
    articles: Iterable[Article],
    previous: PreviousGeneration | None,
    rebuild: bool,
    scratch: Path,
    shard: Shard | None = None,
) -> BuildPlan:
    """Compare with the serving generation and assign ids (unchanged paragraphs keep theirs).

    Each article is dropped once its record is spilled to ``scratch``, so a build never holds
    the corpus in memory. New ids of shard I of N are I-1 plus multiples
    of N above the serving generation's, so shards assign ids without talking to each other.
    """
    reuse = previous if previous is not None and not rebuild else None
    step, offset = (shard.count, shard.index - 1) if shard else (1, 0)
    next_paragraph = (previous.max_paragraph_id if previous is not None else 0) + 1 + offset
    next_sentence = 1 + offset
    plan = BuildPlan(records=SpilledRecords(scratch))
    current_ids: set[str] = set()
    for article in articles:
        digest = content_hash(article)
        old = reuse.content_hashes.get(article.article_id) if reuse else None
        if reuse is not None:
            current_ids.add(article.article_id)
        if old is None:
            plan.added += 1
            status = "added"
        elif old == digest:
            plan.unchanged += 1
            status = "unchanged"
        else:
            plan.updated += 1
            status = "updated"
        plan.changes.append((article.article_id, article.source, status))
        paragraphs = []
        for p in article.paragraphs:
            h = text_hash(p.text)
            pid = reuse.paragraph_ids.get((article.article_id, p.number, h)) if reuse else None
            if pid is None:
                pid, next_paragraph = next_paragraph, next_paragraph + step
            # A paragraph that is only a heading has no sentence: nothing in it is quoted.
            spans = sentence_spans(p.text)
            sentences = []
            for start, end in spans:
                sentences.append((next_sentence, start, end))
                next_sentence += step
            paragraphs.append(
                ParagraphRecord(pid, p.number, p.text, p.section, h, tuple(sentences), p.page)
            )
        plan.records.append(
            ArticleRecord(article.article_id, article.title, article.url, article.date,
                          article.source, digest, tuple(paragraphs))
        )
    if reuse is not None:
        plan.removed = sum(1 for aid in reuse.content_hashes if aid not in current_ids)
    return plan
