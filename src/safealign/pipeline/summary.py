"""What a run concludes from its variants' scores: targets, warnings, the best variant, curves.

Pure functions over `results` dataclasses (and the trainer's metrics.jsonl), so the report and
the tests read the same conclusions.
"""

from __future__ import annotations

import json
from pathlib import Path

from safealign.evaluate.metrics import DISAGREEMENT
from safealign.pipeline.config import TargetSpec
from safealign.pipeline.results import JudgeRate, TargetCheck, TrainingCurve, VariantResult

UNTOUCHED = "untouched"
SYSTEM_PROMPT = "system-prompt"


def check_targets(variants: list[VariantResult], targets: list[TargetSpec]) -> list[TargetCheck]:
    """Every target on every made variant (the baselines are what the targets are against)."""
    untouched = _by_name(variants).get(UNTOUCHED)
    checks = []
    for variant in variants:
        if variant.kind == "baseline":
            continue
        for target in targets:
            measured = measure(variant, untouched, target.task, target.measure)
            checks.append(
                TargetCheck(
                    name=f"{target.task} {target.measure.replace('_', ' ')} <= {target.limit:g}",
                    variant=variant.name,
                    measured=None if measured is None else round(measured, 4),
                    limit=target.limit,
                    met=measured is not None and measured <= target.limit + 1e-12,
                )
            )
    return checks


def measure(
    variant: VariantResult, untouched: VariantResult | None, task: str, what: str
) -> float | None:
    """harmful_compliance, over_refusal, or over_refusal_rise (against the untouched model)."""
    scores = variant.task(task)
    if scores is None:
        return None
    if what == "harmful_compliance":
        return scores.harmful_compliance.value if scores.harmful_compliance else None
    value = scores.over_refusal.value if scores.over_refusal else None
    if what == "over_refusal" or value is None:
        return value
    before = untouched.task(task) if untouched else None
    if before is None or before.over_refusal is None or before.over_refusal.value is None:
        return None
    return value - before.over_refusal.value


def best_variant(variants: list[VariantResult], max_rise: float) -> VariantResult | None:
    """The made variant with the lowest mean harmful compliance whose over-refusal rises by at
    most `max_rise` over the untouched model's on every task that measures it; None when none
    qualifies."""
    untouched = _by_name(variants).get(UNTOUCHED)
    candidates = []
    for variant in variants:
        if variant.kind == "baseline" or variant.model_path is None or not variant.tasks:
            continue
        rises = [measure(variant, untouched, t.task, "over_refusal_rise") for t in variant.tasks]
        if any(rise is not None and rise > max_rise + 1e-12 for rise in rises):
            continue
        harmful = [measure(variant, None, t.task, "harmful_compliance") for t in variant.tasks]
        known = [h for h in harmful if h is not None]
        if known:
            candidates.append((sum(known) / len(known), variant.name, variant))
    return min(candidates)[2] if candidates else None


def run_warnings(
    variants: list[VariantResult], checks: list[TargetCheck], best: VariantResult | None
) -> list[str]:
    """The lines a reader must see first, most important first: the verdict on the targets, how
    far the judges agree, methods that do not beat the safety system prompt, each target the
    best variant missed, then each judge disagreement of more than 10 points (a judge marked
    not informative never counts). The runner prints them and the report puts them first."""
    verdict = target_verdict(checks)
    disagreements = judge_disagreements(variants)
    lines = [verdict] if verdict else []
    if disagreements:
        cells = sum(1 for v in variants for s in v.tasks if s.harmful_compliance is not None)
        lines.append(
            f"judges disagree by more than {DISAGREEMENT * 100:.0f} points on harmful "
            f"compliance in {len(disagreements)} of {cells} (variant, task) results: read "
            "the headline figures beside the second judge's (each case is listed below)."
        )
    prompt = _by_name(variants).get(SYSTEM_PROMPT)
    for variant in variants:
        if variant.kind == "baseline" or prompt is None:
            continue
        for scores in variant.tasks:
            ours = measure(variant, None, scores.task, "harmful_compliance")
            theirs = measure(prompt, None, scores.task, "harmful_compliance")
            if ours is not None and theirs is not None and ours >= theirs:
                lines.append(
                    f"{variant.name} does not beat the safety system prompt on {scores.task}: "
                    f"harmful compliance {ours:.3f} against {theirs:.3f}."
                )
    if best is None and any(v.kind != "baseline" for v in variants):
        lines.append(
            "no made variant keeps over-refusal within the limit on every task: none is saved "
            "as the best model"
        )
    # With no best variant the verdict names the closest one's misses; the Targets table has all.
    missed = [c for c in checks if not c.met and best is not None and c.variant == best.name]
    for check in missed:
        value = "not measured" if check.measured is None else f"{check.measured:.3f}"
        lines.append(
            f"target missed: {check.name} ({check.variant}): measured {value}, "
            f"limit {check.limit:.3f}."
        )
    return lines + disagreements


def target_verdict(checks: list[TargetCheck]) -> str | None:
    """One line: which made variants meet every target, or the one closest to it."""
    if not checks:
        return None
    by_variant: dict[str, list[TargetCheck]] = {}
    for check in checks:
        by_variant.setdefault(check.variant, []).append(check)
    total = len(next(iter(by_variant.values())))
    winners = [name for name, found in by_variant.items() if all(c.met for c in found)]
    if winners:
        return f"targets: all {total} met by {', '.join(winners)}."
    name, found = max(by_variant.items(), key=lambda item: sum(c.met for c in item[1]))
    misses = "; ".join(
        f"{c.name} (measured {'n/a' if c.measured is None else f'{c.measured:.3f}'})"
        for c in found
        if not c.met
    )
    return (
        f"targets: no made variant meets all {total}; the closest, {name}, meets "
        f"{sum(c.met for c in found)} of {total} and misses {misses}."
    )


def judge_disagreements(variants: list[VariantResult]) -> list[str]:
    """A line per (variant, task) whose independent judges differ from the headline judge by
    more than `DISAGREEMENT` on harmful compliance."""
    lines = []
    for variant in variants:
        for scores in variant.tasks:
            headline = scores.harmful_compliance
            for second in scores.second_judges:
                if not second.informative or headline is None or headline.value is None:
                    continue
                if second.rate.value is None:
                    continue
                gap = abs(headline.value - second.rate.value)
                if gap > DISAGREEMENT:
                    lines.append(
                        f"{variant.name} on {scores.task}: judges disagree by {gap * 100:.0f} "
                        f"points on harmful compliance ({headline.value:.3f} by "
                        f"{scores.primary_judge}, {second.rate.value:.3f} by {second.judge})."
                    )
    return lines


def training_curve(variant: str, metrics_file: Path) -> TrainingCurve | None:
    """Numeric per-step metrics of one training run (its metrics.jsonl)."""
    if not metrics_file.is_file():
        return None
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    if not rows:
        return None
    keys = [
        k
        for k, v in rows[0].items()
        if k not in ("step", "epoch") and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    return TrainingCurve(
        variant=variant,
        steps=[int(r["step"]) for r in rows],
        metrics={k: [float(r.get(k, float("nan"))) for r in rows] for k in keys},
    )


def summary_table(variants: list[VariantResult]) -> list[list[str]]:
    """Rows of the end-of-run table: variant, task, harmful compliance, over-refusal, second
    judges, Corr_mean (header first)."""
    rows = [["variant", "task", "harmful compliance", "over-refusal", "second judge", "Corr_mean"]]
    for variant in variants:
        for scores in variant.tasks:
            second = "; ".join(_second(j, scores.judge_agreement) for j in scores.second_judges)
            rows.append(
                [
                    variant.name,
                    scores.task,
                    _short(scores.harmful_compliance),
                    _short(scores.over_refusal),
                    second or "-",
                    _short(variant.corr_mean) if variant.corr_mean else "-",
                ]
            )
    return rows


def _second(judge: JudgeRate, agreement: dict[str, float]) -> str:
    value = "n/a" if judge.rate.value is None else f"{judge.rate.value:.2f}"
    agree = f", agrees {agreement[judge.judge]:.2f}" if judge.judge in agreement else ""
    note = "" if judge.informative else " (not informative)"
    return f"{judge.judge} {value}{agree}{note}"


def _short(rate) -> str:
    if rate is None or rate.value is None:
        return "n/a"
    return f"{rate.value:.2f} [{rate.low:.2f}, {rate.high:.2f}]"


def _by_name(variants: list[VariantResult]) -> dict[str, VariantResult]:
    return {v.name: v for v in variants}
