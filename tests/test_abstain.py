"""Answer-level evidence and the calibrated confidence behind abstention."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

import numpy as np

from bot.abstain import (
    DEFAULT_CALIBRATION,
    FEATURES,
    SELECTOR_CALIBRATION,
    Calibration,
    Evidence,
    evidence,
    fit_logistic,
    shift_to_keep,
)
from bot.compose import rank_sentences
from bot.question import question_terms
from index import Hit, SentenceSpan, sentence_spans
from paragraphs import paragraph

# Document frequencies in a corpus of 1,000 paragraphs; other terms are unknown to it.
DF = {"snowy": 5, "owl": 30, "live": 200, "arctic": 10, "tundra": 4, "hunt": 60, "night": 90,
      "boil": 8, "point": 150}


def weights(terms: Iterable[str]) -> dict[str, float]:
    return {t: math.log1p((1000 - DF.get(t, 0) + 0.5) / (DF.get(t, 0) + 0.5)) for t in terms}


OWLS = "Owls hunt at night. The snowy owl lives in the Arctic tundra and hunts lemmings."


def owl_hit(sentence_dense: float, paragraph_dense: float, fused: float, phrase: float) -> Hit:
    spans = sentence_spans(OWLS)
    return Hit(
        paragraph(1, OWLS, article_id="owls", title="Owls of the North"),
        score=fused + 6.0,
        signals=(("fused", fused + 6.0), ("dense", paragraph_dense), ("phrase", phrase),
                 ("prior", 6.0)),
        sentences=tuple(SentenceSpan(s, e, d) for (s, e), d in zip(spans, [0.1, sentence_dense])),
    )


def test_evidence_of_an_answering_sentence() -> None:
    terms = question_terms("Where does the Snowy Owl live in the Arctic?", weights)
    ev = evidence(terms, rank_sentences(terms, owl_hit(0.7, 0.6, 20.0, 0.8))[0])
    assert ev.entity_coverage == 1.0
    assert ev.unknown_names == 0.0
    assert ev.sentence_dense == 0.7 and ev.paragraph_dense == 0.6 and ev.phrase == 0.8
    # The follow-up prior is not evidence that the paragraph answers the question.
    assert ev.retrieval == 20.0
    assert ev.specificity == 4 / 6


def test_evidence_of_an_off_topic_question() -> None:
    terms = question_terms("What is the boiling point of Mercury?", weights)
    ev = evidence(terms, rank_sentences(terms, owl_hit(0.05, 0.02, 1.0, 0.0))[0])
    assert ev.entity_coverage == 0.0
    assert ev.unknown_names == 1.0  # no paragraph mentions "Mercury"


def test_default_calibration_separates_the_two() -> None:
    good = question_terms("Where does the Snowy Owl live in the Arctic?", weights)
    bad = question_terms("What is the boiling point of Mercury?", weights)
    good_ev = evidence(good, rank_sentences(good, owl_hit(0.7, 0.6, 20.0, 0.8))[0])
    bad_ev = evidence(bad, rank_sentences(bad, owl_hit(0.05, 0.02, 1.0, 0.0))[0])
    assert DEFAULT_CALIBRATION.confidence(good_ev) > 0.5 > DEFAULT_CALIBRATION.confidence(bad_ev)
    # The calibration without the selector reads every feature but the selector's, the last.
    assert len(DEFAULT_CALIBRATION.coefficients) == len(FEATURES) - 1
    assert FEATURES[-1] == "selector"
    assert len(SELECTOR_CALIBRATION.coefficients) == len(FEATURES)
    sure = dataclasses.replace(good_ev, selector=4.0)
    unsure = dataclasses.replace(bad_ev, selector=-4.0)
    assert SELECTOR_CALIBRATION.confidence(sure) > 0.5 > SELECTOR_CALIBRATION.confidence(unsure)


def test_fit_logistic_separates_and_shift_keeps_the_share() -> None:
    rng = np.random.default_rng(3)
    positives = rng.normal(1.0, 0.5, size=(400, 2))
    negatives = rng.normal(-1.0, 0.5, size=(400, 2))
    x = np.vstack([positives, negatives])
    y = np.array([1.0] * 400 + [0.0] * 400)
    cal = fit_logistic(x, y, l2=0.1)
    assert all(c > 0 for c in cal.coefficients)
    z = x @ np.array(cal.coefficients) + cal.intercept
    assert ((z > 0) == (y == 1)).mean() > 0.95
    shifted = shift_to_keep(cal, positives, keep=0.97)
    kept = np.array([shifted.confidence_of(row) for row in positives]) >= 0.5
    assert abs(kept.mean() - 0.97) < 0.01


def test_confidence_is_monotone_in_its_features() -> None:
    cal = Calibration(intercept=-1.0, coefficients=(1.0,) * len(FEATURES))
    low = Evidence(*([0.1] * len(FEATURES)))
    high = Evidence(*([0.9] * len(FEATURES)))
    assert 0.0 < cal.confidence(low) < cal.confidence(high) < 1.0
