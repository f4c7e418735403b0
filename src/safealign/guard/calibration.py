"""Calibration and thresholds, fitted on a dev split.

Temperature scaling divides a head's logits by one scalar T fitted to minimise the dev set's
negative log-likelihood: it changes how confident the probabilities are, never their order.
Thresholds are then chosen per head and per category to maximise dev F1, because the 0.5 default
is wrong whenever classes are imbalanced (Do-Not-Answer is 3.4 % harmful).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from safealign.guard.metrics import pr_curve


def fit_temperature(
    logits: Sequence[float] | torch.Tensor,
    labels: Sequence[bool] | torch.Tensor,
    *,
    min_temperature: float = 0.05,
    max_temperature: float = 20.0,
) -> float:
    """The T > 0 minimising binary NLL of sigmoid(logits / T); 1.0 when labels are one class."""
    z = torch.as_tensor(logits, dtype=torch.float64).flatten()
    y = torch.as_tensor(labels, dtype=torch.float64).flatten()
    if len(z) == 0 or y.min() == y.max():
        return 1.0
    # NLL is unimodal in log T on this bracket: golden-section search is exact enough and robust.
    lo, hi = np.log(min_temperature), np.log(max_temperature)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _nll(z, y, a), _nll(z, y, b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _nll(z, y, a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _nll(z, y, b)
    return float(np.exp((lo + hi) / 2))


def _nll(z: torch.Tensor, y: torch.Tensor, log_t: float) -> float:
    return float(torch.nn.functional.binary_cross_entropy_with_logits(z / float(np.exp(log_t)), y))


def best_f1_threshold(
    labels: Sequence[bool], probabilities: Sequence[float], default: float = 0.5
) -> float:
    """The score threshold with the highest F1 on (labels, probabilities).

    Returns the midpoint between the chosen score and the next lower one, so a slightly
    different score on new data falls on the same side; `default` when there is no positive.
    """
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probabilities, dtype=float)
    if not y.any() or y.all():
        return default
    precision, recall, thresholds = pr_curve(y, p)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall + 1e-12), 0)
    best = int(np.argmax(f1))
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else 0.0
    return float((thresholds[best] + lower) / 2)


def category_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    names: Sequence[str],
    *,
    min_positives: int = 5,
    default: float = 0.5,
) -> dict[str, float]:
    """Per-category best-F1 thresholds; `default` for categories with too few dev positives."""
    thresholds = {}
    for column, name in enumerate(names):
        y = labels[:, column].astype(bool)
        thresholds[name] = (
            best_f1_threshold(y, probabilities[:, column], default)
            if y.sum() >= min_positives
            else default
        )
    return thresholds
