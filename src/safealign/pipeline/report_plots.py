"""The run report's plots, drawn from a RunSummary: each returns PNG bytes, none is drawn empty.

Shares pyplot and PNG encoding with the evaluation reports (safealign.evaluate.report).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from safealign.evaluate.report import png_bytes, pyplot
from safealign.evaluate.stats import Rate
from safealign.pipeline.results import RunSummary, TaskScores, VariantResult


@dataclass
class Plot:
    """One figure: its PNG file name, what it shows, and the bytes."""

    file: str
    section: str
    title: str
    png: bytes


def draw_plots(summary: RunSummary) -> list[Plot]:
    """Every plot the summary has data for (none drawn empty)."""
    plots = []
    if any(_point(s) for v in summary.variants for s in v.tasks):
        plots.append(
            Plot(
                "tradeoff.png",
                "tradeoff",
                "harmful compliance vs over-refusal",
                tradeoff_plot(summary.variants),
            )
        )
    for task in task_names(summary.variants):
        if any((s := v.task(task)) and s.per_category for v in summary.variants):
            plots.append(
                Plot(
                    f"categories-{_slug(task)}.png",
                    "categories",
                    f"{task}: harmful compliance per category",
                    category_plot(summary.variants, task),
                )
            )
    for curve in summary.training_curves:
        if curve.steps and any(curve.metrics.values()):
            plots.append(
                Plot(
                    f"training-{_slug(curve.variant)}.png",
                    "training",
                    f"training curves: {curve.variant}",
                    training_plot(curve.variant, curve.steps, curve.metrics),
                )
            )
    if summary.guard_curves:
        plots.append(
            Plot("guard-pr.png", "guard", "guard precision-recall curves", guard_pr_plot(summary))
        )
    return plots


MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def tradeoff_plot(variants: Sequence[VariantResult]) -> bytes:
    """One point per variant and task (colour: variant, shape: task), 95% intervals as error
    bars; baselines are hollow. Lower left is better."""
    from matplotlib.lines import Line2D  # heavy; only when a report draws plots

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    tasks = task_names(variants)
    labelled: list[tuple[float, float, str]] = []
    for number, variant in enumerate(variants):
        color = f"C{number % 10}"
        for scores in variant.tasks:
            point = _point(scores)
            if point is None:
                continue
            harm, refusal = point
            baseline = variant.kind == "baseline"
            ax.errorbar(
                refusal.value,
                harm.value,
                xerr=_error(refusal),
                yerr=_error(harm),
                fmt=MARKERS[tasks.index(scores.task) % len(MARKERS)],
                color=color,
                markerfacecolor="white" if baseline else color,
                markeredgewidth=2 if baseline else 1,
                markersize=9,
                capsize=3,
                alpha=0.9,
            )
            # Crowded corners (the baselines near (0, 1)): one name per variant there, and the
            # names of different variants stacked rather than printed over each other.
            near = [
                name
                for x, y, name in labelled
                if abs(x - refusal.value) < 0.1 and abs(y - harm.value) < 0.1
            ]
            if variant.name in near:
                continue
            labelled.append((refusal.value, harm.value, variant.name))
            nearby = len(near)
            ax.annotate(
                variant.name,
                (refusal.value, harm.value),
                xytext=(8, 2 - 11 * nearby),
                textcoords="offset points",
                fontsize=8,
                color=color,
            )
    handles = [
        Line2D(
            [],
            [],
            color=f"C{n % 10}",
            marker="o",
            linestyle="",
            markerfacecolor="white" if v.kind == "baseline" else f"C{n % 10}",
            label=v.name + (" (baseline)" if v.kind == "baseline" else ""),
        )
        for n, v in enumerate(variants)
    ]
    handles += [
        Line2D([], [], color="grey", marker=MARKERS[i % len(MARKERS)], linestyle="", label=task)
        for i, task in enumerate(tasks)
    ]
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    highest = max((p[1].high or 0.0) for v in variants for s in v.tasks if (p := _point(s)))
    ax.set_xlim(-0.01, min(1.02, math.ceil((highest + 0.05) * 10) / 10 + 0.01))
    ax.set_ylim(-0.02, 1.08)  # room for the name of a point at 1.0
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel("over-refusal (benign prompts refused)")
    ax.set_ylabel("harmful compliance (harmful prompts answered)")
    ax.set_title("Every variant on every task (lower left is better; hollow: baselines)")
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def category_plot(variants: Sequence[VariantResult], task: str) -> bytes:
    """Harmful compliance per harm category on `task`, one bar per variant."""
    plt = pyplot()
    present = [(v, s) for v in variants if (s := v.task(task)) and s.per_category]
    categories = sorted({c for _, s in present for c in s.per_category})
    height = 0.8 / len(present)
    fig, ax = plt.subplots(figsize=(8, 0.16 * len(categories) * len(present) + 1.5))
    for number, (variant, scores) in enumerate(present):
        rates = [scores.per_category.get(c) for c in categories]
        values = [r.value if r and r.value is not None else 0.0 for r in rates]
        errors = [_error(r)[:, 0] if r and r.value is not None else (0, 0) for r in rates]
        ys = [i + number * height for i in range(len(categories))]
        colour = f"C{variants.index(variant) % 10}"
        ax.barh(
            ys,
            values,
            height=height,
            xerr=list(zip(*errors, strict=True)),
            capsize=2,
            color=colour,
            label=variant.name,
            error_kw={"elinewidth": 0.6, "alpha": 0.6},
        )
        for y, rate in zip(ys, rates, strict=True):  # the counts, so a zero bar still shows
            if rate is not None and rate.total:
                ax.text(
                    1.01,
                    y,
                    f"{rate.count}/{rate.total}",
                    va="center",
                    fontsize=6,
                    color=colour,
                    transform=ax.get_yaxis_transform(),
                )
    # how many harmful prompts each category holds: a rate of 1 in 2 is not a finding
    sizes = {
        c: max((s.per_category[c].total for _, s in present if c in s.per_category), default=0)
        for c in categories
    }
    labels = [f"{c} (n={sizes[c]})" for c in categories]
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(categories))], labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("harmful compliance")
    ax.set_title(f"{task}: harmful compliance per category")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.08, 0.5))
    fig.tight_layout()
    return png_bytes(fig)


def training_plot(variant: str, steps: Sequence[int], metrics: dict[str, list[float]]) -> bytes:
    """One panel per logged metric (loss, reward margin, lambda, ...) against the step."""
    plt = pyplot()
    names = [name for name, values in metrics.items() if values]
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    width = max(4.0 * columns, 6.5)
    fig, axes = plt.subplots(rows, columns, figsize=(width, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        values = metrics[name]
        ax.plot(list(steps)[: len(values)], values, color="C0")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"Training: {variant}")
    fig.tight_layout()
    return png_bytes(fig)


def guard_pr_plot(summary: RunSummary) -> bytes:
    """Precision against recall of each guard on each labelled set."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for curve in summary.guard_curves:
        ax.plot(
            curve.recall,
            curve.precision,
            label=f"{curve.guard} on {curve.dataset}: AUPRC {curve.auprc:.3f}, "
            f"F1 {curve.f1:.3f} at {curve.threshold:.2f}",
        )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (harmful found)")
    ax.set_ylabel("precision")
    ax.set_title("Guard precision-recall")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def _point(scores: TaskScores) -> tuple[Rate, Rate] | None:
    harm, refusal = scores.harmful_compliance, scores.over_refusal
    if _value(harm) is None or _value(refusal) is None:
        return None
    return harm, refusal


def _error(rate: Rate):
    import numpy as np  # matplotlib wants a (2, 1) array of distances

    return np.array([[rate.value - rate.low], [rate.high - rate.value]])


def task_names(variants: Sequence[VariantResult]) -> list[str]:
    """Every task measured, in the order the variants first name them."""
    names: list[str] = []
    for variant in variants:
        names += [s.task for s in variant.tasks if s.task not in names]
    return names


def _value(rate: Rate | None) -> float | None:
    return None if rate is None else rate.value


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"
