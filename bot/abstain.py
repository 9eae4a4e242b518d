"""Calibrated abstention: how sure citebot is that the quoted sentence answers the question."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import numpy as np

from bot.compose import SentenceChoice
from bot.question import QuestionTerms, stems

# Questions with this many content terms or more count as fully specific.
SPECIFIC_TERMS = 6


@dataclass(frozen=True)
class Evidence:
    """Answer-level evidence that a chosen sentence (and its paragraph) answers a question."""

    # Share of the question's names and numbers found in the paragraph or its title (the share
    # of its idf mass when it names nothing).
    entity_coverage: float
    # 1 when the question names something no indexed paragraph mentions at all.
    unknown_names: float
    # Cosine similarity of the question with the quoted sentence and with the whole paragraph.
    sentence_dense: float
    paragraph_dense: float
    # Share of the question's adjacent word pairs found adjacent in the paragraph.
    phrase: float
    # The retrieval score of the paragraph, without any follow-up prior.
    retrieval: float
    # How many content terms the question has (up to SPECIFIC_TERMS), as a share: vague
    # questions match something everywhere.
    specificity: float
    # The answer selector's score of the quoted sentence (0 when it is off). Last, so that a
    # calibration fitted without it (fewer coefficients) still reads the others.
    selector: float = 0.0

    def vector(self) -> tuple[float, ...]:
        """The features in declaration order."""
        return astuple(self)


FEATURES = tuple(f.name for f in fields(Evidence))


def evidence(terms: QuestionTerms, choice: SentenceChoice) -> Evidence:
    """Measure how well ``choice`` and its paragraph carry what the question asks about."""
    hit = choice.hit
    context = stems(hit.ref.text) | stems(hit.ref.title or "")
    return Evidence(
        entity_coverage=(
            terms.entity_coverage(context) if terms.entities else terms.coverage(context)
        ),
        unknown_names=1.0 if any(terms.unknown(e) for e in terms.entities) else 0.0,
        sentence_dense=choice.dense,
        paragraph_dense=hit.signal("dense"),
        phrase=hit.signal("phrase"),
        retrieval=hit.signal("fused", hit.score) - hit.signal("prior"),
        specificity=min(len(terms.terms), SPECIFIC_TERMS) / SPECIFIC_TERMS,
        selector=choice.selected if choice.selected is not None else 0.0,
    )


@dataclass(frozen=True)
class Calibration:
    """A logistic model over ``Evidence``: confidence = sigmoid(intercept + coefficients · x)."""

    intercept: float
    coefficients: tuple[float, ...]

    def confidence(self, ev: Evidence) -> float:
        """The probability-like confidence that the evidence supports an answer."""
        return self.confidence_of(ev.vector())

    def confidence_of(self, features: Sequence[float]) -> float:
        """The confidence of a raw feature vector (in ``FEATURES`` order)."""
        # strict=False: a calibration fitted before a feature was added has fewer coefficients.
        pairs = zip(self.coefficients, features, strict=False)
        z = self.intercept + sum(c * float(x) for c, x in pairs)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


# Fitted with ``python benchmarks/abstention.py --fit`` (see its docstring): L2-regularized
# logistic regression of answerable SQuAD v2.0 dev questions vs. off-topic questions (CoQA
# literature dialogs asked against the SQuAD corpus) on the fitting half of both, with the
# intercept then shifted so that the default threshold (0.5) keeps 98% of that half's
# answerable questions answered. Features in ``FEATURES`` order.
DEFAULT_CALIBRATION = Calibration(
    intercept=-13.42,
    coefficients=(0.3819, -0.9581, 4.285, 3.626, 0.8274, 0.5093, 7.123),
)


# The same fit with the answer selector on (its score is the last feature), on a random 5,000
# of those questions (``--limit 5000``): at the default threshold the held-out half answers
# 97.2% of answerable questions and abstains on 96.4% of off-topic and 8.7% of unanswerable ones.
SELECTOR_CALIBRATION = Calibration(
    intercept=-12.19,
    coefficients=(-0.03071, -0.5024, 2.522, 2.393, 0.3435, 0.5207, 6.202, 0.2193),
)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    l2: float = 1.0,
    iterations: int = 50,
) -> Calibration:
    """Fit an L2-regularized logistic regression with Newton's method (intercept unpenalized)."""
    n, d = x.shape
    design = np.hstack([np.ones((n, 1)), x.astype(np.float64)])
    weights = np.ones(n) if sample_weight is None else sample_weight.astype(np.float64)
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    beta = np.zeros(d + 1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -60, 60)))
        gradient = design.T @ (weights * (p - y)) + penalty * beta
        hessian = (design * (weights * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(d + 1), gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return Calibration(intercept=float(beta[0]), coefficients=tuple(float(b) for b in beta[1:]))


def shift_to_keep(
    calibration: Calibration, x: np.ndarray, keep: float, threshold: float = 0.5
) -> Calibration:
    """Shift the intercept so that ``threshold`` keeps the share ``keep`` of rows ``x`` above it."""
    z = x.astype(np.float64) @ np.asarray(calibration.coefficients) + calibration.intercept
    cut = float(np.quantile(z, 1.0 - keep))
    logit = math.log(threshold / (1.0 - threshold))
    return Calibration(calibration.intercept + logit - cut, calibration.coefficients)

