"""`safealign demo`: `safealign run` with the built-in config `demo.yaml`, and the demo's flags.

The flags set keys of that config; a flag left out keeps the file's value. `--config FILE`
with a `demo:` section does the same from YAML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from safealign.config import config_origin
from safealign.pipeline.config import RunConfig, check_run_config, load_run_config

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


@dataclass
class DemoConfig:
    """Settings of `safealign demo` (YAML section `demo`); unset keeps demo.yaml's value."""

    model: str | None = field(
        default=None, metadata={"help": 'Model spec: "embedded", a checkpoint folder or hub id.'}
    )
    dtype: str | None = field(
        default=None, metadata={"help": "bf16 where the CPU/GPU runs it natively, else float32."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "The run folder (default runs/demo)."}
    )
    eval_harmful: int | None = field(
        default=None, metadata={"help": "Harmful suite prompts measured (default 25)."}
    )
    eval_benign: int | None = field(
        default=None, metadata={"help": "Benign suite prompts measured (default 25)."}
    )
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Answer length when measuring (default 48)."}
    )
    refusal_judge: str | None = field(
        default=None, metadata={"help": "Headline judge (default refusal-keyword)."}
    )
    guard: str | None = field(
        default=None,
        metadata={
            "help": 'Guard whose response verdict is the second judge ("embedded", a folder, '
            '"llm:<model>"; "none" drops it).'
        },
    )
    align: bool = field(
        default=True, metadata={"help": "Make variants (red-team BFPO, ICV); false only measures."}
    )
    icv: bool = field(default=True, metadata={"help": "Include the in-context vector variant."})
    align_samples: int | None = field(
        default=None, metadata={"help": "Sampled answers per training prompt (default 2)."}
    )
    align_max_new_tokens: int | None = field(
        default=None, metadata={"help": "Answer length of the red-team samples (default 48)."}
    )
    align_epochs: int | None = field(
        default=None, metadata={"help": "Passes over the red-team pairs (default 4)."}
    )
    align_prompts: int | None = field(
        default=None, metadata={"help": "Use N of the 80 built-in training prompts (default all)."}
    )
    learning_rate: float | None = field(
        default=None, metadata={"help": "LoRA learning rate (default 1e-4)."}
    )
    beta: float | None = field(
        default=None, metadata={"help": "BFPO's tau (default 2; docs/training.md says why)."}
    )
    seed: int | None = field(default=None, metadata={"help": "Seeds sampling and training."})


def demo_run_config(demo: DemoConfig, path: Path = DEMO_CONFIG) -> RunConfig:
    """demo.yaml with the demo flags that were given applied."""
    config = load_run_config(path)
    for name in ("model", "dtype", "output_dir", "seed"):
        if getattr(demo, name) is not None:
            setattr(config, name, getattr(demo, name))
    evaluation = config.evaluation
    assert evaluation is not None
    suite = evaluation.tasks[0].settings
    if demo.eval_harmful is not None:
        suite["harmful"] = demo.eval_harmful
    if demo.eval_benign is not None:
        suite["benign"] = demo.eval_benign
    if demo.max_new_tokens is not None:
        evaluation.max_new_tokens = demo.max_new_tokens
    if demo.refusal_judge is not None:
        evaluation.primary_judge = demo.refusal_judge
    if demo.guard is not None:
        second = [] if demo.guard == "none" else [f"harm-guard@{demo.guard}"]
        evaluation.second_judges = second
    if not demo.align:
        config.redteam = config.train = config.steer = None
    elif not demo.icv:
        config.steer = None
    if config.redteam is not None:
        synthesis = config.redteam.synthesis
        if demo.align_samples is not None:
            synthesis.num_samples = demo.align_samples
        if demo.align_max_new_tokens is not None:
            synthesis.max_new_tokens = demo.align_max_new_tokens
        config.redteam.builtin_limit = demo.align_prompts
    if config.train is not None:
        train = config.train.runs[0].config
        if demo.align_epochs is not None:
            train.epochs = demo.align_epochs
        if demo.learning_rate is not None:
            train.learning_rate = demo.learning_rate
        if demo.beta is not None:
            train.loss = dataclasses.replace(train.loss, beta=demo.beta)
    check_run_config(config, config_origin(path))
    return config
