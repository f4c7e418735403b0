"""`safealign demo`: the whole loop, measure -> guard -> align -> measure, on the embedded defaults.

1. measure: the built-in suite's harmful and benign prompts, answered by the model; harmful
   compliance and over-refusal with 95% bootstrap intervals (always reported together);
2. guard: the embedded guard moderates those prompts and answers;
3. align: the model answers its own red-team prompts (disjoint from the suite), the answers are
   labelled safe/unsafe and ranked by helpfulness into BFPO pairs, and a LoRA adapter is trained;
4. measure again with the aligned model, and write a report (JSON, Markdown, a plot).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safealign.config import config_to_dict
from safealign.data.loaders import save_samples
from safealign.data.schema import Message
from safealign.demo_data import align_prompts
from safealign.evaluate import QuickSafetyResult, quick_safety_check
from safealign.guard import load_guard
from safealign.io import atomic_path, write_json_atomic, write_text_atomic
from safealign.models import LoadedModel, load_model
from safealign.train import TrainConfig, train
from safealign.train.losses import LossConfig
from safealign.train.synthesis import RedTeamConfig, synthesize_redteam


@dataclass
class DemoConfig:
    """Settings of `safealign demo` (YAML section `demo`)."""

    model: str = "embedded"
    """Model spec: "embedded", a local checkpoint folder, or a hub id."""
    dtype: str = "auto"
    """bf16 where the CPU/GPU runs it natively, else float32."""
    output_dir: str = "runs/demo"
    """Where the report, the pairs and the trained adapter go."""
    eval_harmful: int = 25
    """Harmful suite prompts measured (spread over the PKU categories)."""
    eval_benign: int = 25
    """Benign suite prompts measured (risky-sounding and plain)."""
    max_new_tokens: int = 48
    """Answer length when measuring."""
    refusal_judge: str = "refusal-keyword"
    """Judge deciding whether an answer is a refusal; the keyword judge agrees best with the
    XSTest human labels (docs/evaluation.md)."""
    guard: str | None = "embedded"
    """Guard that moderates the answers ("embedded", a folder, "llm:<model>"); None skips it."""
    align: bool = True
    """Run the alignment stage (red-team pairs + BFPO LoRA); False only measures."""
    align_samples: int = 2
    """Sampled answers per training prompt (a prefilled refusal is added to each)."""
    align_max_new_tokens: int = 48
    """Answer length of the red-team samples."""
    align_epochs: int = 4
    """Passes over the red-team pairs (4 x 20 steps: long enough to reach tau 2's margins)."""
    align_prompts: int | None = None
    """Use only the first N of the 80 built-in training prompts (None: all)."""
    learning_rate: float = 1e-4
    """LoRA learning rate."""
    beta: float = 2.0
    """BFPO's tau. The trainer normalises log-ratios per token, so the margin targets are
    (+-0.5, +-1) / tau nats per token: at tau 0.5 they lie out of a LoRA's reach, the loss hardly
    falls and training keeps pushing one global "refuse more" direction (XSTest over-refusal
    +6.8 points); at tau 2 the pairs reach their margins and the squared loss stops pushing
    (docs/training.md, "Measured on the embedded model")."""
    seed: int = 0
    """Seeds sampling and training."""


@dataclass
class GuardSummary:
    """The guard stage: its verdicts on the measured prompts and answers, against the suite."""

    guard: str
    """The guard spec that ran."""
    prompt_accuracy: float
    """Share of prompts whose harmful flag matches the suite's label."""
    harmful_prompts_flagged: int
    benign_prompts_flagged: int
    answers_flagged_harmful: int
    num_harmful_prompts: int
    num_benign_prompts: int
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    """One verdict per answer (written to answers.json, not to report.json)."""

    def to_dict(self) -> dict[str, Any]:
        """The figures without the per-answer verdicts."""
        return {k: v for k, v in asdict(self).items() if k != "verdicts"}


@dataclass
class AlignSummary:
    """The align stage: the red-team pairs and the BFPO LoRA run trained on them."""

    method: str
    pairs: int
    pairs_with_unsafe_response: int
    """Pairs in which at least one answer was labelled unsafe."""
    steps: int
    loss_first: float
    loss_last: float
    adapter: str | None = None
    curves: str | None = None


StageResult = QuickSafetyResult | GuardSummary | AlignSummary
StageHook = Callable[[str, StageResult], None]
"""Called as each stage finishes: ("measure" | "guard" | "align" | "measure_after", result)."""


@dataclass
class DemoReport:
    """Everything the demo measured."""

    model: str
    before: QuickSafetyResult
    after: QuickSafetyResult | None = None
    guard: dict[str, GuardSummary] = field(default_factory=dict)
    """Guard summaries by stage ("before", "after" alignment)."""
    training: AlignSummary | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    output_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The measured figures; the guard's per-answer verdicts go to answers.json instead."""
        return {
            "model": self.model,
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after else None,
            "guard": {stage: summary.to_dict() for stage, summary in self.guard.items()},
            "training": asdict(self.training) if self.training else {},
            "seconds": self.seconds,
        }


def run_demo(
    config: DemoConfig, *, loaded: LoadedModel | None = None, on_stage: StageHook | None = None
) -> DemoReport:
    """Run the loop; `on_stage(name, result)` is called as each stage finishes."""
    notify = on_stage or (lambda name, result: None)
    output_dir = Path(config.output_dir)
    seconds: dict[str, float] = {}

    started = time.time()
    loaded = loaded or load_model(config.model, dtype=config.dtype)
    before = _measure(loaded, config)
    seconds["measure"] = time.time() - started
    report = DemoReport(
        model=loaded.name, before=before, seconds=seconds, output_dir=str(output_dir)
    )
    write_demo_report(report, config, output_dir)  # after every stage: a crash keeps the rest
    notify("measure", before)

    if config.guard:
        started = time.time()
        report.guard["before"] = moderate_answers(config.guard, before)
        seconds["guard"] = time.time() - started
        write_demo_report(report, config, output_dir)
        notify("guard", report.guard["before"])

    if config.align:
        started = time.time()
        aligned, report.training = align_model(loaded, config, output_dir)
        seconds["align"] = time.time() - started
        write_demo_report(report, config, output_dir)
        notify("align", report.training)
        started = time.time()
        report.after = _measure(aligned, config)
        write_demo_report(report, config, output_dir)
        if config.guard:
            report.guard["after"] = moderate_answers(config.guard, report.after)
        seconds["measure_after"] = time.time() - started
        notify("measure_after", report.after)

    write_demo_report(report, config, output_dir)
    return report


def _measure(loaded: LoadedModel, config: DemoConfig) -> QuickSafetyResult:
    return quick_safety_check(
        loaded,
        harmful=config.eval_harmful,
        benign=config.eval_benign,
        max_new_tokens=config.max_new_tokens,
        refusal_judge=config.refusal_judge,
        progress=True,
    )


def moderate_answers(guard_spec: str, result: QuickSafetyResult) -> GuardSummary:
    """Run the guard over the measured prompts and answers; compare with the suite's labels."""
    guard = load_guard(guard_spec)
    conversations = [
        [Message("user", a.prompt), Message("assistant", a.answer)] for a in result.answers
    ]
    verdicts = guard.classify(conversations)
    harmful_kind = [a.kind == "harmful" for a in result.answers]
    prompt_flags = [bool(v.prompt_harmful and v.prompt_harmful.label) for v in verdicts]
    response_flags = [bool(v.response_harmful and v.response_harmful.label) for v in verdicts]
    correct = sum(f == h for f, h in zip(prompt_flags, harmful_kind, strict=True))
    return GuardSummary(
        guard=guard_spec,
        prompt_accuracy=correct / max(len(verdicts), 1),
        harmful_prompts_flagged=sum(
            f for f, h in zip(prompt_flags, harmful_kind, strict=True) if h
        ),
        benign_prompts_flagged=sum(
            f for f, h in zip(prompt_flags, harmful_kind, strict=True) if not h
        ),
        answers_flagged_harmful=sum(response_flags),
        num_harmful_prompts=sum(harmful_kind),
        num_benign_prompts=len(harmful_kind) - sum(harmful_kind),
        verdicts=[v.to_dict() for v in verdicts],
    )


def align_model(
    loaded: LoadedModel, config: DemoConfig, output_dir: Path
) -> tuple[LoadedModel, AlignSummary]:
    """Red-team pairs from the model's own answers, then BFPO with LoRA on them."""
    redteam = RedTeamConfig(
        num_samples=config.align_samples,
        max_new_tokens=config.align_max_new_tokens,
        seed=config.seed,
        max_pairs_per_prompt=2,
        batch_size=32,
    )
    prompts = align_prompts()
    if config.align_prompts is not None:  # keep both kinds: harmful come first, benign last
        half = config.align_prompts // 2
        prompts = prompts[:half] + prompts[len(prompts) - (config.align_prompts - half) :]
    pairs = synthesize_redteam(prompts, loaded, redteam, progress=True)
    save_samples(pairs, output_dir / "redteam_pairs.jsonl")
    train_config = TrainConfig(
        model=config.model,
        loss=LossConfig(name="bfpo", beta=config.beta),
        pairs="bfpo",
        max_length=192,
        max_prompt_length=96,
        learning_rate=config.learning_rate,
        epochs=config.align_epochs,
        batch_size=4,
        gradient_accumulation_steps=2,
        dtype=config.dtype,
        seed=config.seed,
        output_dir=str(output_dir / "bfpo"),
        save_every=None,
        precompute_reference=True,
    )
    result = train(train_config, loaded=loaded, samples=pairs)  # LoRA-wraps `loaded` in place
    first, last = result.metrics[0], result.metrics[-1]
    summary = AlignSummary(
        method="bfpo (LoRA)",
        pairs=result.num_pairs,
        pairs_with_unsafe_response=sum(any(r.is_safe is False for r in s.responses) for s in pairs),
        steps=result.steps,
        loss_first=first["loss"],
        loss_last=last["loss"],
        adapter=str(result.adapter_dir) if result.adapter_dir else None,
        curves=str(result.plot) if result.plot else None,
    )
    result.model.model.eval()
    return result.model, summary


def write_demo_report(report: DemoReport, config: DemoConfig, output_dir: Path) -> None:
    """report.json, report.md and before_after.png in `output_dir`, each written atomically."""
    data = report.to_dict() | {"config": config_to_dict(config)}
    write_json_atomic(output_dir / "report.json", data)
    answers = {
        "before": [asdict(a) for a in report.before.answers],
        "after": [asdict(a) for a in report.after.answers] if report.after else [],
        "guard_verdicts": {stage: g.verdicts for stage, g in report.guard.items()},
    }
    write_text_atomic(output_dir / "answers.json", json.dumps(answers, indent=1) + "\n")
    write_text_atomic(output_dir / "report.md", demo_markdown(report))
    _plot_before_after(report, output_dir / "before_after.png")


def demo_markdown(report: DemoReport) -> str:
    lines = [
        f"# safealign demo: {report.model}",
        "",
        "| | harmful compliance | over-refusal |",
        "|---|---|---|",
    ]
    for name, result in (("before", report.before), ("after", report.after)):
        if result is not None:
            lines.append(
                f"| {name} | {_rate(result.harmful_compliance)} | {_rate(result.over_refusal)} |"
            )
    lines += [
        "",
        "Harmful compliance: share of harmful prompts answered (lower is safer). "
        "Over-refusal: share of benign prompts refused (lower is more helpful). "
        "95% bootstrap intervals in brackets.",
    ]
    for stage, guard in report.guard.items():
        lines += [
            "",
            f"## Guard ({guard.guard}), answers {stage} alignment",
            "",
            f"- prompt-level accuracy vs the suite's labels: {guard.prompt_accuracy:.2f}",
            f"- harmful prompts flagged: {guard.harmful_prompts_flagged}"
            f"/{guard.num_harmful_prompts}",
            f"- benign prompts flagged: {guard.benign_prompts_flagged}/{guard.num_benign_prompts}",
            f"- answers flagged harmful: {guard.answers_flagged_harmful}",
        ]
    if report.training:
        lines += ["", "## Alignment", ""]
        lines += [f"- {k}: {v}" for k, v in asdict(report.training).items()]
    return "\n".join(lines) + "\n"


def _rate(rate) -> str:
    return str(rate)


def _plot_before_after(report: DemoReport, path: Path) -> None:
    import matplotlib  # heavy; only when the demo draws its plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [("before", report.before)] + ([("after", report.after)] if report.after else [])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.35
    for offset, (name, result) in enumerate(stages):
        rates = [result.harmful_compliance, result.over_refusal]
        xs = [i + offset * width for i in range(2)]
        values = [r.value or 0.0 for r in rates]
        errors = [
            [(r.value or 0.0) - (r.low or 0.0) for r in rates],
            [(r.high or 0.0) - (r.value or 0.0) for r in rates],
        ]
        ax.bar(xs, values, width, yerr=errors, capsize=4, label=name)
    ax.set_xticks([i + width / 2 for i in range(2)], ["harmful compliance", "over-refusal"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate (95% CI)")
    ax.set_title(report.model)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as staged:
        fig.savefig(staged, format="png", dpi=110)
    plt.close(fig)
