"""`safealign guard eval`: harmful-class F1 / precision / recall / AUPRC and per-category F1,
at prompt and response level, with a JSON + Markdown report and PR curves.

Datasets are catalogue names (`safealign data list`: the test split, or all of a held-out set)
or any file `safealign.data` loads.
Verdicts are saved beside the report, so metrics can be recomputed without re-running a guard.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from safealign.data.catalog import CATALOG, load_dataset
from safealign.data.loaders import load_samples
from safealign.data.schema import Sample
from safealign.guard.examples import GuardExample, examples_from_samples
from safealign.guard.loading import load_guard
from safealign.guard.metrics import binary_metrics, pr_curve, precision_recall_f1
from safealign.guard.verdict import Guard, Turns, Verdict
from safealign.io import atomic_path, write_json_atomic, write_jsonl_atomic, write_text_atomic

LEVELS = {
    "prompt": ("prompt_harmful", "prompt_harmful"),
    "response": ("response_harmful", "response_harmful"),
    "refusal": ("refusal", "refusal"),
}


@dataclass
class GuardEvalConfig:
    """What to evaluate, on what, and where the report goes."""

    guard: str = "embedded"
    """Guard spec for load_guard: "embedded", a saved guard folder, or "llm:<model spec>"."""
    data: list[str] = field(
        default_factory=lambda: [
            "xstest-responses",
            "xstest-prompts",
            "olid",
            "ethos",
            "toxigen",
            "do-not-answer",
        ]
    )
    """Catalogue datasets (their test split, or all of a held-out set) or data files."""
    data_dir: str | None = None
    """Shared data folder (None: $SAFEALIGN_SHARED_DATA or ../shared/data)."""
    format: str | None = None
    """Format for data files (None: detected)."""
    limit: int | None = None
    """Evaluate at most this many examples per dataset (stable random subset)."""
    batch_size: int = 32
    """Conversations per guard call."""
    output: str = "runs/guard-eval"
    """Folder for report.json, report.md, pr_<dataset>.png and verdicts_<dataset>.jsonl."""
    targets: bool = False
    """Measure the guard v2 targets (user content, benign, responses, categories, speed) on
    held-out splits, next to `baseline`, instead of the per-dataset report."""
    baseline: str | None = "previous"
    """Guard measured beside it with `targets` ("previous": the guard the current default
    replaced, skipped while there is none; "none": no baseline; or a guard spec)."""
    split: str = field(default="test", metadata={"choices": ("test", "dev")})
    """Split of the target sets with `targets` (held-out sets are read whole)."""
    generated_share: float = 0.3
    """With `targets`: answers the embedded LM writes to prompts of `split` for the response
    target, as a share of the guard recipe's 300 harmful / 120 prefilled-refusal / 180 benign
    answers (0.3: 180 answers, about a minute once, then cached; 0: none)."""


@dataclass
class DatasetReport:
    """Metrics of one guard on one dataset."""

    name: str
    examples: int
    seconds: float
    levels: dict[str, dict[str, Any]] = field(default_factory=dict)
    categories: dict[str, dict[str, float]] = field(default_factory=dict)


def evaluate_guard(
    guard: Guard, name: str, examples: Sequence[GuardExample], batch_size: int = 32
) -> tuple[DatasetReport, list[Verdict]]:
    """Run the guard over the examples and score every level that has labels."""
    start = time.perf_counter()
    verdicts = classify_sorted(guard, [e.turns for e in examples], batch_size, name)
    report = DatasetReport(name=name, examples=len(examples), seconds=time.perf_counter() - start)
    for level, (label_field, verdict_field) in LEVELS.items():
        rows = [
            (getattr(e, label_field), getattr(v, verdict_field))
            for e, v in zip(examples, verdicts, strict=True)
            if getattr(e, label_field) is not None
            and getattr(v, verdict_field) is not None
            and (level != "prompt" or e.response is None)
        ]
        if not rows:
            continue
        labels = [bool(y) for y, _ in rows]
        probs = [s.probability for _, s in rows]
        predicted = [bool(s.label) if s.label is not None else True for _, s in rows]
        report.levels[level] = binary_metrics(labels, probs, predicted=predicted).to_dict()
        report.levels[level]["curve"] = [c.tolist() for c in pr_curve(labels, probs)[:2]]
    report.categories = category_f1(examples, verdicts)
    return report, verdicts


def classify_sorted(
    guard: Guard,
    conversations: Sequence[Turns],
    batch_size: int = 32,
    name: str = "",
    **options: Any,
) -> list[Verdict]:
    """Verdicts in input order, computed in batches of similar length: a batch is padded to
    its longest text, so mixing a 2,000-character post with tweets wastes most of the work."""
    order = sorted(
        range(len(conversations)),
        key=lambda i: len(conversations[i].prompt) + len(conversations[i].response or ""),
    )
    verdicts: list[Verdict | None] = [None] * len(conversations)
    for i in tqdm(
        range(0, len(order), batch_size), desc=f"guard {name}", unit="batch", disable=not name
    ):
        chunk = order[i : i + batch_size]
        for index, verdict in zip(
            chunk, guard.classify([conversations[j] for j in chunk], **options), strict=True
        ):
            verdicts[index] = verdict
    return verdicts  # type: ignore[return-value]


def category_f1(
    examples: Sequence[GuardExample], verdicts: Sequence[Verdict]
) -> dict[str, dict[str, float]]:
    """Per-category F1 of flagged categories on examples whose categories are known."""
    known = [
        (e, v)
        for e, v in zip(examples, verdicts, strict=True)
        if e.categories is not None and v.categories
    ]
    names = sorted(
        {c for e, _ in known for c in e.categories or []}
        & {c for _, v in known for c in v.categories}
    )
    out = {}
    for name in names:
        tp = sum(name in (e.categories or []) and name in v.flagged_categories for e, v in known)
        fp = sum(
            name not in (e.categories or []) and name in v.flagged_categories for e, v in known
        )
        fn = sum(
            name in (e.categories or []) and name not in v.flagged_categories for e, v in known
        )
        precision, recall, f1 = precision_recall_f1(tp, fp, fn)
        out[name] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return out


def load_eval_examples(spec: str, config: GuardEvalConfig) -> list[GuardExample]:
    """A catalogue dataset (test split, or all of a held-out set) or any file load_samples reads."""
    if spec in CATALOG:
        split = "all" if CATALOG[spec].held_out else "test"
        samples: list[Sample] = load_dataset(spec, split, config.data_dir)
    else:
        samples = load_samples(spec, config.format).samples
    examples = examples_from_samples(samples)
    if config.limit is not None and len(examples) > config.limit:
        examples = random.Random(0).sample(examples, config.limit)
    return examples


def run_guard_eval(config: GuardEvalConfig, guard: Guard | None = None) -> list[DatasetReport]:
    """Evaluate on every dataset of the config; write report.json, report.md, curves, verdicts."""
    guard = guard or load_guard(config.guard)
    out = Path(config.output)
    reports = []
    for spec in config.data:
        name = Path(spec).stem if spec.endswith((".jsonl", ".csv", ".json", ".parquet")) else spec
        examples = load_eval_examples(spec, config)
        report, verdicts = evaluate_guard(guard, name, examples, config.batch_size)
        write_jsonl_atomic(out / f"verdicts_{name}.jsonl", (v.to_dict() for v in verdicts))
        _plot_curves(report, out / f"pr_{name}.png")
        reports.append(report)
    write_json_atomic(
        out / "report.json",
        {"guard": config.guard, "datasets": [_strip_curves(r) for r in reports]},
    )
    write_text_atomic(out / "report.md", render_markdown(config.guard, reports))
    return reports


def render_markdown(guard: str, reports: Sequence[DatasetReport]) -> str:
    lines = [
        f"# Guard evaluation: {guard}",
        "",
        "| dataset | level | n | harmful | precision | recall | F1 | AUPRC | texts/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        for level, m in r.levels.items():
            lines.append(
                f"| {r.name} | {level} | {m['count']} | {m['support']} | {m['precision']:.3f} | "
                f"{m['recall']:.3f} | {m['f1']:.3f} | {m['auprc']:.3f} | "
                f"{r.examples / max(r.seconds, 1e-9):.0f} |"
            )
    for r in reports:
        if r.categories:
            lines += [
                "",
                f"## Per-category F1: {r.name}",
                "",
                "| category | support | F1 |",
                "|---|---|---|",
            ]
            lines += [f"| {c} | {m['support']} | {m['f1']:.3f} |" for c, m in r.categories.items()]
    return "\n".join(lines) + "\n"


def _strip_curves(report: DatasetReport) -> dict[str, Any]:
    levels = {
        k: {kk: vv for kk, vv in v.items() if kk != "curve"} for k, v in report.levels.items()
    }
    return {
        "name": report.name,
        "examples": report.examples,
        "seconds": report.seconds,
        "levels": levels,
        "categories": report.categories,
    }


def _plot_curves(report: DatasetReport, path: Path) -> None:
    import matplotlib  # heavy: only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    for level, m in report.levels.items():
        precision, recall = (np.asarray(c) for c in m["curve"])
        ax.step(recall, precision, where="post", label=f"{level} (AUPRC {m['auprc']:.2f})")
    ax.set(xlabel="recall", ylabel="precision", title=report.name, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as staged:
        fig.savefig(staged, format="png", dpi=100)
    plt.close(fig)
