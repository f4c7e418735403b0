"""The training-curve figure written at the end of every run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from safealign.io import atomic_path

PANELS: list[tuple[str, list[str]]] = [
    ("loss", ["loss"]),
    ("reward margin", ["rewards/margins"]),
    ("reward accuracy", ["rewards/accuracies", "accuracy"]),
    ("implicit reward of chosen", ["rewards/chosen_safe", "rewards/chosen_unsafe"]),
]


def plot_training_curves(
    rows: Sequence[dict],
    path: str | Path,
    *,
    panels: Sequence[tuple[str, list[str]]] = tuple(PANELS),
    xlabel: str = "optimizer step",
) -> Path | None:
    """Plot every logged metric that a panel names against the step; None when nothing to plot.

    Metric keys may carry a loss prefix ("bfpo/rewards/margins"): a panel shows any key that ends
    with one of its names, so mixed losses plot too.
    """
    import matplotlib  # heavy: only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return None
    keys = sorted({k for row in rows for k in row})
    panels = [
        (title, [k for k in keys if any(k == n or k.endswith("/" + n) for n in names)])
        for title, names in panels
    ]
    panels = [(title, found) for title, found in panels if found]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for axis, (title, found) in zip(axes[0], panels, strict=True):
        for key in found:
            points = [(row["step"], row[key]) for row in rows if key in row]
            axis.plot([p[0] for p in points], [p[1] for p in points], label=key, linewidth=1.2)
        axis.set_title(title)
        axis.set_xlabel(xlabel)
        axis.grid(alpha=0.3)
        if len(found) > 1:
            axis.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as staged:
        fig.savefig(staged, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
