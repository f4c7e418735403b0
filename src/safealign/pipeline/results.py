"""What a `safealign run` produced, as dataclasses: the stages fill them in, the report reads them.

These are the one contract between the run's stages (`pipeline.stages`, `pipeline.runner`) and
its report (`pipeline.report`); `RunSummary` is also what `summary.json` holds, so a report can
be re-rendered from a finished run folder without re-running anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from safealign.evaluate.stats import Rate

StageStatus = Literal["done", "cached", "skipped", "failed", "interrupted"]
VariantKind = Literal["baseline", "trained", "steered", "edited"]


@dataclass
class AnswerSample:
    """One answer shown to the reader, with what the judges said of it."""

    prompt: str
    answer: str
    labels: dict[str, str]
    """Judge name -> its label for this answer ("complied", "refused", "harmful", "safe", ...)."""
    category: str | None = None


@dataclass
class JudgeRate:
    """One judge's harmful-compliance rate on one task, and whether it may be a headline."""

    judge: str
    rate: Rate
    informative: bool = True
    """False for a judge known not to separate the classes on this model (never a headline)."""


@dataclass
class TaskScores:
    """One variant on one evaluation task."""

    task: str
    """What was measured, by name: "suite", "advbench", "xstest", or the prompt file's name for
    a dataset task (never the bare word "dataset")."""
    harmful_compliance: Rate | None
    """Headline: share of harmful prompts answered, by the primary judge."""
    over_refusal: Rate | None
    """Share of benign prompts refused, by the primary judge."""
    primary_judge: str
    second_judges: list[JudgeRate] = field(default_factory=list)
    """Independent judges of the same harmful answers (e.g. the guard's response judge)."""
    judge_agreement: dict[str, float] = field(default_factory=dict)
    """Second judge name -> share of harmful answers on which it agrees with the primary judge."""
    per_category: dict[str, Rate] = field(default_factory=dict)
    """Harmful compliance per harm category, where the task's prompts carry categories."""
    harmful_samples: list[AnswerSample] = field(default_factory=list)
    """A random sample (10 by default, seeded) of harmful-prompt answers."""
    benign_samples: list[AnswerSample] = field(default_factory=list)
    """A random sample (10 by default, seeded) of benign-prompt answers."""
    run_dir: str | None = None
    """The `eval run` folder behind these figures."""

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> TaskScores:
        """Rebuild from `asdict` output (as summary.json and variants.json hold it)."""
        return cls(
            task=value["task"],
            harmful_compliance=_rate(value["harmful_compliance"]),
            over_refusal=_rate(value["over_refusal"]),
            primary_judge=value["primary_judge"],
            second_judges=[
                JudgeRate(j["judge"], Rate(**j["rate"]), j.get("informative", True))
                for j in value.get("second_judges", [])
            ],
            judge_agreement=dict(value.get("judge_agreement", {})),
            per_category={k: Rate(**v) for k, v in value.get("per_category", {}).items()},
            harmful_samples=[AnswerSample(**s) for s in value.get("harmful_samples", [])],
            benign_samples=[AnswerSample(**s) for s in value.get("benign_samples", [])],
            run_dir=value.get("run_dir"),
        )


@dataclass
class VariantResult:
    """One model variant: the untouched model, a baseline, or what a method made of it."""

    name: str
    """"untouched", "system-prompt", "bfpo", "icv", "bfpo+icv", "hdr", ..."""
    kind: VariantKind
    description: str
    """One line a reader understands: what was done to the model."""
    model_path: str | None
    """A folder every verb loads with --model (None for the untouched model spec)."""
    tasks: list[TaskScores] = field(default_factory=list)
    corr_mean: Rate | None = None
    """C2-Eval's Corr_mean, when the run measures course correction."""
    cpu_seconds: float | None = None
    """Compute spent making this variant (training, vector building), not evaluating it."""

    def task(self, name: str) -> TaskScores | None:
        return next((scores for scores in self.tasks if scores.task == name), None)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> VariantResult:
        """Rebuild from `asdict` output (as summary.json and variants.json hold it)."""
        return cls(
            name=value["name"],
            kind=value["kind"],
            description=value["description"],
            model_path=value.get("model_path"),
            tasks=[TaskScores.from_dict(t) for t in value.get("tasks", [])],
            corr_mean=_rate(value.get("corr_mean")),
            cpu_seconds=value.get("cpu_seconds"),
        )


@dataclass
class TrainingCurve:
    """Per-step metrics of one training run (loss, reward margins, lambda, ...)."""

    variant: str
    steps: list[int]
    metrics: dict[str, list[float]]


@dataclass
class GuardCurve:
    """A guard's precision-recall curve on one labelled set."""

    guard: str
    dataset: str
    precision: list[float]
    recall: list[float]
    auprc: float
    f1: float
    threshold: float


@dataclass
class TargetCheck:
    """One target of the recipe (e.g. "suite harmful compliance <= 0.10") and whether it held."""

    name: str
    variant: str
    measured: float | None
    limit: float
    met: bool


@dataclass
class StageRecord:
    """One stage of the run: what happened to it this time, and the config hash it was run with."""

    name: str
    status: StageStatus
    seconds: float
    config_hash: str
    outputs: list[str] = field(default_factory=list)
    """Files or folders (relative to the run folder) the stage wrote."""


@dataclass
class RunSummary:
    """Everything the report shows; written as `summary.json` in the run folder."""

    name: str
    run_dir: str
    config: dict[str, Any]
    """The exact config, as loaded (defaults filled in)."""
    versions: dict[str, str]
    """Package versions: safealign, torch, transformers, peft, python."""
    started: str
    finished: str | None
    stages: list[StageRecord] = field(default_factory=list)
    variants: list[VariantResult] = field(default_factory=list)
    best_variant: str | None = None
    best_model_path: str | None = None
    training_curves: list[TrainingCurve] = field(default_factory=list)
    guard_curves: list[GuardCurve] = field(default_factory=list)
    targets: list[TargetCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Lines the report puts first: judges disagreeing by more than 10 points, a method that
    does not beat the safety system prompt, targets missed."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Rebuild from `summary.json` (the inverse of `to_dict`)."""
        return cls(
            name=data["name"],
            run_dir=data["run_dir"],
            config=data["config"],
            versions=data["versions"],
            started=data["started"],
            finished=data.get("finished"),
            stages=[StageRecord(**s) for s in data.get("stages", [])],
            variants=[VariantResult.from_dict(v) for v in data.get("variants", [])],
            best_variant=data.get("best_variant"),
            best_model_path=data.get("best_model_path"),
            training_curves=[TrainingCurve(**c) for c in data.get("training_curves", [])],
            guard_curves=[GuardCurve(**c) for c in data.get("guard_curves", [])],
            targets=[TargetCheck(**t) for t in data.get("targets", [])],
            warnings=list(data.get("warnings", [])),
        )


def _rate(value: dict[str, Any] | None) -> Rate | None:
    return None if value is None else Rate(**value)
