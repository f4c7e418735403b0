"""Harmful-class metrics: precision, recall, F1 at a threshold, and the threshold-free AUPRC.

The harmful class is the positive class throughout, as in the Aegis 2.0 and Llama Guard papers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class BinaryMetrics:
    """Harmful-class metrics on one labelled set."""

    precision: float
    recall: float
    f1: float
    auprc: float
    """Area under the precision-recall curve (average precision); NaN without positives."""
    support: int
    """Number of harmful examples."""
    count: int
    threshold: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def binary_metrics(
    labels: Sequence[bool],
    probabilities: Sequence[float],
    threshold: float = 0.5,
    predicted: Sequence[bool] | None = None,
) -> BinaryMetrics:
    """Metrics of `probabilities >= threshold` (or the given `predicted` labels, e.g. a guard's
    fail-closed labels) as the harmful prediction against `labels`."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probabilities, dtype=float)
    predicted = p >= threshold if predicted is None else np.asarray(predicted, dtype=bool)
    tp = int(np.sum(predicted & y))
    fp = int(np.sum(predicted & ~y))
    fn = int(np.sum(~predicted & y))
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    return BinaryMetrics(
        precision=precision,
        recall=recall,
        f1=f1,
        auprc=average_precision(y, p),
        support=int(y.sum()),
        count=len(y),
        threshold=threshold,
    )


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """The three counts-based scores; 0 where a denominator is 0 (no prediction, no positive)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def pr_curve(
    labels: Sequence[bool], probabilities: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and threshold at every distinct score, highest threshold first."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probabilities, dtype=float)
    order = np.argsort(-p, kind="stable")
    y, p = y[order], p[order]
    tps = np.cumsum(y)
    fps = np.cumsum(~y)
    last_of_each_score = np.r_[np.nonzero(np.diff(p))[0], len(p) - 1]
    tps, fps, thresholds = tps[last_of_each_score], fps[last_of_each_score], p[last_of_each_score]
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / max(int(y.sum()), 1)
    return precision, recall, thresholds


def average_precision(labels: Sequence[bool], probabilities: Sequence[float]) -> float:
    """AUPRC as average precision: sum over thresholds of (R_k - R_{k-1}) * P_k."""
    y = np.asarray(labels, dtype=bool)
    if not y.any():
        return float("nan")
    precision, recall, _ = pr_curve(y, probabilities)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
