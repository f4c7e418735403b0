"""Calibration and thresholds, fitted on a dev split.

Temperature scaling divides a head's logits by one scalar T fitted to minimise the dev set's
negative log-likelihood: it changes how confident the probabilities are, never their order.
Thresholds are then chosen per head and per category to maximise dev F1, because the 0.5 default
is wrong whenever classes are imbalanced (Do-Not-Answer is 3.4 % harmful). A head may lean
towards recall instead (`ThresholdRule`: F-beta with beta > 1, and / or a dev recall floor): a
guard that misses harm costs more than one that sends an extra answer to review, and a dev set
whose harmful answers are easier than real traffic's picks a threshold too strict for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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


@dataclass
class ThresholdRule:
    """How a head's threshold is chosen on dev: the best F-beta among the thresholds that keep
    dev recall at or above `min_recall` (beta 1, no floor: the best-F1 threshold)."""

    beta: float = field(
        default=1.0,
        metadata={
            "help": "Maximise dev F-beta: 1 weighs precision and recall alike, 2 counts recall "
            "twice as much (fewer missed harms, more flagged)."
        },
    )
    min_recall: float = field(
        default=0.0,
        metadata={
            "help": "Only thresholds whose dev recall is at least this (0 = no floor); the "
            "highest such threshold when F-beta cannot decide."
        },
    )

    def __post_init__(self) -> None:
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0 (1: F1, 2: recall counts double), got {self.beta}")
        if not 0 <= self.min_recall <= 1:
            raise ValueError(
                f"min_recall must be between 0 and 1 (0: no floor), got {self.min_recall}"
            )


def best_threshold(
    labels: Sequence[bool],
    probabilities: Sequence[float],
    rule: ThresholdRule | None = None,
    default: float = 0.5,
) -> float:
    """The score threshold with the highest F-beta on (labels, probabilities) among those
    reaching `rule.min_recall` (ties: the highest threshold, i.e. the fewest flags).

    Returns the midpoint between the chosen score and the next lower one, so a slightly
    different score on new data falls on the same side; `default` when there is no positive.
    """
    rule = rule or ThresholdRule()
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probabilities, dtype=float)
    if not y.any() or y.all():
        return default
    precision, recall, thresholds = pr_curve(y, p)
    score = fbeta(precision, recall, rule.beta)
    score = np.where(recall >= rule.min_recall - 1e-12, score, -1.0)  # the last point has recall 1
    best = int(np.argmax(score))
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else 0.0
    return float((thresholds[best] + lower) / 2)


def fbeta(precision: np.ndarray, recall: np.ndarray, beta: float) -> np.ndarray:
    """(1 + beta^2) P R / (beta^2 P + R), 0 where both are 0."""
    b2 = beta * beta
    denominator = b2 * precision + recall
    return np.where(denominator > 0, (1 + b2) * precision * recall / (denominator + 1e-12), 0.0)


def best_f1_threshold(
    labels: Sequence[bool], probabilities: Sequence[float], default: float = 0.5
) -> float:
    """The best-F1 threshold (see `best_threshold`)."""
    return best_threshold(labels, probabilities, ThresholdRule(), default)


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


MIX_FEATURES = ("prompt", "refusal", "response", "product")
"""Inputs of the response-harm combination: the three heads' raw logits and the product rule's
log-probability log P(prompt harmful) + log(1 - P(refusal))."""
MIX_SIGNS = (1.0, -1.0, 1.0, 1.0)
"""Sign each weight is held to: a harmful request, a non-refusal and a harmful-looking answer
can only raise the response's harm, so a small dev set cannot teach a spurious inverse rule."""


def mix_features(
    z_prompt: torch.Tensor,
    z_refusal: torch.Tensor,
    z_response: torch.Tensor,
    t_prompt: float = 1.0,
    t_refusal: float = 1.0,
) -> torch.Tensor:
    """[n, 4] features for the response-harm combination (see MIX_FEATURES)."""
    z_p, z_r, z_s = (
        torch.as_tensor(z, dtype=torch.float64) for z in (z_prompt, z_refusal, z_response)
    )
    product = torch.nn.functional.logsigmoid(z_p / t_prompt) + torch.nn.functional.logsigmoid(
        -z_r / t_refusal
    )
    return torch.stack([z_p, z_r, z_s, product], dim=-1)


def mix_logit(features: torch.Tensor, mix: dict[str, float]) -> torch.Tensor:
    """The combination's logit: bias + sum of weight * feature."""
    weights = torch.as_tensor([mix[name] for name in MIX_FEATURES], dtype=features.dtype)
    return features @ weights + mix["bias"]


def fit_response_mix(
    features: torch.Tensor, labels: Sequence[bool], l2: float = 1e-3, steps: int = 200
) -> dict[str, float]:
    """Sign-constrained logistic regression of response harm on `features` (by NLL, so the
    result is calibrated): weights are sign * softplus(free parameter)."""
    with torch.inference_mode(False), torch.enable_grad():  # callers may be in inference mode
        x = torch.as_tensor(features, dtype=torch.float64).clone()
        return _fit_mix(x, np.asarray(labels, dtype=float), l2, steps)


def _fit_mix(x: torch.Tensor, labels: np.ndarray, l2: float, steps: int) -> dict[str, float]:
    y = torch.as_tensor(labels, dtype=torch.float64)
    signs = torch.as_tensor(MIX_SIGNS, dtype=torch.float64)
    free = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([free, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        weights = signs * torch.nn.functional.softplus(free)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weights + bias, y)
        loss = loss + l2 * (weights**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    weights = (signs * torch.nn.functional.softplus(free)).detach().tolist()
    return {**dict(zip(MIX_FEATURES, weights, strict=True)), "bias": float(bias.detach())}


def review_band(
    labels: Sequence[bool],
    probabilities: Sequence[float],
    threshold: float,
    *,
    target: float = 0.95,
) -> tuple[float, float]:
    """The (low, high) probability band around `threshold` whose verdicts a person should see.

    Above `high`, flagged verdicts are right at least `target` of the time (dev precision);
    below `low`, at most 1 - `target` of the harmful examples are missed (dev recall). Inside,
    the guard is unsure: automatic action there costs either missed harm or wrong blocks. The
    band always contains the threshold; it is (threshold, threshold) without dev positives.
    """
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probabilities, dtype=float)
    if not y.any() or y.all():
        return threshold, threshold
    positives = np.sort(p[y])
    low = float(positives[int(np.floor((1 - target) * len(positives)))])
    order = np.argsort(-p, kind="stable")
    sorted_p, sorted_y = p[order], y[order]
    precision = np.cumsum(sorted_y) / np.arange(1, len(p) + 1)
    ok = precision >= target  # the lowest cut-off whose flagged set is still precise enough
    high = float(sorted_p[np.nonzero(ok)[0][-1]]) if ok.any() else 1.0
    return min(low, threshold), max(high, threshold)


def in_band(probability: float, band: Sequence[float] | None) -> bool:
    """Whether a probability lies in a review band (closed interval); never without a band."""
    return band is not None and len(band) == 2 and band[0] <= probability <= band[1]
