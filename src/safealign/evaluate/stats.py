"""Rates with bootstrap confidence intervals, and agreement between two labelings.

Every number safealign reports is a rate over a finite sample, so it comes with a 95% interval.
When observations cluster (several samples of one prompt, as in C2-Eval), whole clusters are
resampled: samples of one prompt are not independent, and treating them so narrows the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000


@dataclass
class Rate:
    """A proportion with its bootstrap 95% interval and the counts behind it."""

    value: float | None
    low: float | None
    high: float | None
    count: int
    """How many observations were positive."""
    total: int
    """How many observations had a label (None labels are left out)."""

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def __str__(self) -> str:
        if self.value is None:
            return "n/a (0 labelled)"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.count}/{self.total})"


def rate_with_ci(
    labels: Sequence[bool | None],
    *,
    groups: Sequence[object] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> Rate:
    """Share of True among the non-None labels, with a percentile bootstrap interval.

    `groups` (one key per label) makes it a cluster bootstrap: groups are drawn with replacement.
    """
    keep = [i for i, label in enumerate(labels) if label is not None]
    values = np.array([float(bool(labels[i])) for i in keep])
    if len(values) == 0:
        return Rate(None, None, None, 0, 0)
    if groups is None or len({groups[i] for i in keep}) == len(keep):
        low, high = bootstrap_ci(values, np.mean, resamples=resamples, seed=seed, level=level)
        return Rate(float(values.mean()), low, high, int(values.sum()), len(values))
    # cluster bootstrap, vectorised: resample groups, rate = their hits / their labelled count
    table = _group_table([labels[i] for i in keep], [groups[i] for i in keep])
    hits = np.array([h for h, _ in table.values()], dtype=float)
    totals = np.array([t for _, t in table.values()], dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(hits), size=(resamples, len(hits)))
    stats = hits[draws].sum(axis=1) / totals[draws].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    return Rate(
        float(values.mean()),
        float(np.quantile(stats, alpha)),
        float(np.quantile(stats, 1.0 - alpha)),
        int(values.sum()),
        len(values),
    )


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    groups: Sequence[object] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of `statistic` over resamples of `values` (or of whole groups)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    if groups is None:
        draws = rng.integers(0, len(values), size=(resamples, len(values)))
        if statistic is np.mean:
            stats = values[draws].mean(axis=1)
        else:
            stats = np.array([statistic(values[row]) for row in draws])
    else:
        members = _group_members(groups)
        draws = rng.integers(0, len(members), size=(resamples, len(members)))
        stats = np.array(
            [statistic(values[np.concatenate([members[g] for g in row])]) for row in draws]
        )
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def mean_of_rates_ci(
    labels_by_key: dict[object, Sequence[bool | None]],
    groups_by_key: dict[object, Sequence[object]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> Rate:
    """Mean over keys of per-key rates (C2-Eval's Corr_mean over k), cluster-bootstrapped.

    The same resampled groups (prompts) are used for every key, so the correlation between the
    rates at different k is kept.
    """
    keys = list(labels_by_key)
    tables = [_group_table(labels_by_key[k], groups_by_key[k]) for k in keys]
    all_groups = sorted({g for table in tables for g in table}, key=str)
    if not all_groups:
        return Rate(None, None, None, 0, 0)
    hits = np.array([[t.get(g, (0, 0))[0] for g in all_groups] for t in tables], dtype=float)
    totals = np.array([[t.get(g, (0, 0))[1] for g in all_groups] for t in tables], dtype=float)
    value = float(np.mean(hits.sum(axis=1) / totals.sum(axis=1)))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(all_groups), size=(resamples, len(all_groups)))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_key = hits[:, draws].sum(axis=2) / totals[:, draws].sum(axis=2)  # [keys, resamples]
    stats = np.nanmean(per_key, axis=0)
    alpha = (1.0 - level) / 2.0
    return Rate(
        value,
        float(np.quantile(stats, alpha)),
        float(np.quantile(stats, 1.0 - alpha)),
        int(hits.sum()),
        int(totals.sum()),
    )


@dataclass
class Agreement:
    """How well a judge's binary labels match reference labels (positive = True)."""

    accuracy: float
    cohen_kappa: float
    f1: float
    precision: float
    recall: float
    total: int
    """Pairs where both labels were present."""

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def agreement(predicted: Sequence[bool | None], reference: Sequence[bool | None]) -> Agreement:
    """Accuracy, Cohen's kappa and F1 of the positive class, over pairs with both labels."""
    pairs = [
        (bool(p), bool(r))
        for p, r in zip(predicted, reference, strict=True)
        if p is not None and r is not None
    ]
    n = len(pairs)
    if n == 0:
        raise ValueError("no pair has both labels; agreement is undefined")
    tp = sum(p and r for p, r in pairs)
    fp = sum(p and not r for p, r in pairs)
    fn = sum(r and not p for p, r in pairs)
    tn = n - tp - fp - fn
    observed = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    kappa = 1.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Agreement(observed, kappa, f1, precision, recall, n)


def fleiss_kappa(votes: Sequence[Sequence[bool | None]]) -> float | None:
    """Fleiss' kappa of several raters' binary votes (rows: items, columns: raters).

    Items where any rater abstained (None) are left out; None when no item remains.
    """
    rows = [[bool(v) for v in row] for row in votes if row and all(v is not None for v in row)]
    if not rows:
        return None
    raters = len(rows[0])
    if raters < 2:
        return None
    yes = np.array([sum(row) for row in rows], dtype=float)
    no = raters - yes
    per_item = (yes * (yes - 1) + no * (no - 1)) / (raters * (raters - 1))
    p_bar = per_item.mean()
    p_yes = yes.sum() / (len(rows) * raters)
    p_e = p_yes**2 + (1 - p_yes) ** 2
    return 1.0 if p_e == 1.0 else float((p_bar - p_e) / (1 - p_e))


def _group_members(groups: Sequence[object]) -> list[np.ndarray]:
    index: dict[object, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(g, []).append(i)
    return [np.array(v) for v in index.values()]


def _group_table(
    labels: Sequence[bool | None], groups: Sequence[object]
) -> dict[object, tuple[int, int]]:
    table: dict[object, tuple[int, int]] = {}
    for label, group in zip(labels, groups, strict=True):
        if label is None:
            continue
        hits, total = table.get(group, (0, 0))
        table[group] = (hits + int(bool(label)), total + 1)
    return table
