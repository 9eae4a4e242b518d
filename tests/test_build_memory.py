"""A build's bounded-memory parts: records spilled to scratch, BM25 postings placed from scratch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import index.bm25_build as bm25_build
import index.spill as spill
from index.bm25 import LexicalIndex
from index.bm25_build import write_lexical
from index.build_plan import plan_build
from index.build_records import SpilledRecords
from index.models import Article, Paragraph
from index.storage import ArticleRecord, ParagraphRecord

WORDS = ("owl hunt night river king war science music city bread yeast oven tundra lemming "
         "flight silent arctic bakery loaf score").split()


def _texts(count: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    # Repeated words give term counts above 1; a stop-word-only text has no terms at all.
    texts = [" ".join(rng.choice(WORDS, int(rng.integers(1, 14)))) for _ in range(count)]
    texts[5] = "the and of"
    return texts


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("range_postings", [1, 7, 1 << 20])
def test_streamed_bm25_files_are_those_of_the_in_memory_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, range_postings: int
) -> None:
    # Tiny flushes and reads make every posting cross chunk and term-range boundaries.
    monkeypatch.setattr(bm25_build, "_FLUSH", 5)
    monkeypatch.setattr(bm25_build, "_READ", 11)
    texts = _texts(300)
    ids = np.random.default_rng(4).permutation(np.arange(1000, 1300))
    LexicalIndex.build(texts, ids.tolist()).save(tmp_path / "memory")
    write_lexical(tmp_path / "streamed", iter(texts), ids, scratch=tmp_path,
                  range_postings=range_postings)
    assert _files(tmp_path / "streamed") == _files(tmp_path / "memory")
    # The scratch file has no name: nothing is left next to the index.
    assert sorted(os.listdir(tmp_path)) == ["memory", "streamed"]


def test_streamed_bm25_of_no_text_and_mismatched_ids(tmp_path: Path) -> None:
    LexicalIndex.build([], []).save(tmp_path / "memory")
    write_lexical(tmp_path / "streamed", [], np.zeros(0, dtype=np.int64), scratch=tmp_path)
    assert _files(tmp_path / "streamed") == _files(tmp_path / "memory")
    with pytest.raises(ValueError, match="differ in length"):
        write_lexical(tmp_path / "bad", ["one", "two"], np.array([1]), scratch=tmp_path)


def _record(n: int, paragraphs: int) -> ArticleRecord:
    return ArticleRecord(
        f"a{n}", f"Title {n}", None if n % 2 else f"https://example.org/{n}", None, "src.jsonl",
        f"hash{n}",
        tuple(ParagraphRecord(100 * n + i, i, f"Text {n}.{i} ü", "Intro" if i else None,
                              f"h{i}", ((1000 * n + i, 0, 4), (1000 * n + i + 500, 5, 9)),
                              i or None)
              for i in range(paragraphs)),
    )


def test_spilled_records_read_back_equal_in_order_and_by_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spill, "READ_BLOCK", 300)  # several records per read, or one
    records = [_record(n, n % 5) for n in range(40)]
    spilled = SpilledRecords(tmp_path)
    for record in records:
        spilled.append(record)
    assert list(spilled) == records
    assert list(spilled) == records  # read again: every pass starts over
    assert len(spilled) == 40 and spilled[7] == records[7] and spilled[-1] == records[-1]
    assert spilled[2:5] == records[2:5]
    assert spilled.paragraphs == sum(n % 5 for n in range(40))
    assert spilled.sentences == 2 * spilled.paragraphs
    with pytest.raises(IndexError):
        spilled[40]
    assert os.listdir(tmp_path) == []  # unnamed: a killed build leaves nothing
    spilled.close()


def test_planning_spills_records_with_new_ids_in_order(tmp_path: Path) -> None:
    articles = list(
        Article(f"a{n}", f"T{n}", "s.jsonl",
                tuple(Paragraph(f"a{n}", i, f"First {n}. Second {i}.") for i in range(3)))
        for n in range(4)
    )
    plan = plan_build(iter(articles), None, True, tmp_path)
    records = list(plan.records)
    assert [r.article_id for r in records] == ["a0", "a1", "a2", "a3"]
    assert [p.paragraph_id for r in records for p in r.paragraphs] == list(range(1, 13))
    assert [s[0] for r in records for p in r.paragraphs for s in p.sentences] == list(range(1, 25))
    assert plan.added == 4 and plan.records.sentences == 24
    plan.records.close()
