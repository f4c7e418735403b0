"""`RunConfig`: one YAML file for `safealign run`, one optional section per stage.

A section left out (or `null`) skips its stage. Sections that drive another verb nest that
verb's own config (`RedTeamConfig`, `TrainConfig`, `IcvConfig`, ...), so every knob keeps its
name and help; the keys a run decides itself (the model, the output paths, the seed) are refused
there with an error that names them, so no section can quietly train or steer another model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from safealign.config import config_origin, load_config
from safealign.errors import ConfigError
from safealign.guard.evaluation import GuardEvalConfig
from safealign.steer.config import HarmVectorConfig, IcvConfig
from safealign.steer.rules import RULES
from safealign.train.config import TrainConfig
from safealign.train.synthesis import CourseCorrectionConfig, RedTeamConfig
from safealign.train.synthesis.prompts import SAFETY_SYSTEM_PROMPT

BASE = "base"
"""The name `apply_to` uses for the untouched model."""


@dataclass
class EvalTaskSpec:
    """One evaluation task every variant answers."""

    task: str = field(default="suite", metadata={"help": "Task name (`safealign eval tasks`)."})
    settings: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "The task's own settings (limit, benign_limit, harmful, benign, ...), "
            "as `eval run` takes them."
        },
    )
    name: str | None = field(
        default=None,
        metadata={"help": "Label in the report (default: the task name; one label per task)."},
    )

    @property
    def label(self) -> str:
        return self.name or self.task


@dataclass
class EvaluationSection:
    """Evaluation of every variant, beside the untouched model and a safety system prompt."""

    tasks: list[EvalTaskSpec] = field(
        default_factory=lambda: [EvalTaskSpec()],
        metadata={"help": "Tasks every variant answers.", "cli": False},
    )
    primary_judge: str = field(
        default="refusal-keyword",
        metadata={
            "help": "Judge of the headline figures (harmful compliance = harmful prompts not "
            "refused; over-refusal = benign prompts refused). The keyword judge agrees best "
            "with XSTest's human labels (docs/evaluation.md)."
        },
    )
    second_judges: list[str] = field(
        default_factory=lambda: ["harm-guard"],
        metadata={
            "help": "Independent judges of the same answers, shown beside the headline with "
            "their agreement (harm-guard: the embedded guard's response-harm verdict; on a GPU "
            "harm-guard@hub:<id>)."
        },
    )
    system_prompt: str = field(
        default=SAFETY_SYSTEM_PROMPT,
        metadata={"help": "The safety system prompt of the system-prompt baseline."},
    )
    max_new_tokens: int = field(default=64, metadata={"help": "Answer length in tokens."})
    batch_size: int = field(default=16, metadata={"help": "Prompts per generation batch."})
    samples: int = field(
        default=10, metadata={"help": "Answers shown per variant, task and kind (seeded)."}
    )
    resamples: int = field(
        default=1000, metadata={"help": "Bootstrap resamples per confidence interval."}
    )
    backend_url: str | None = field(
        default=None,
        metadata={
            "help": "OpenAI-compatible server (vLLM, ...) answering the variants named in "
            "served_models; the others run in-process."
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Environment variable holding the server's API key (read if set)."},
    )
    served_models: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "Variant name -> the model name the server knows it by (e.g. untouched: "
            "meta-llama/Meta-Llama-3-8B-Instruct, bfpo: bfpo-adapter for vLLM --lora-modules)."
        },
    )

    def __post_init__(self) -> None:
        labels = [t.label for t in self.tasks]
        doubles = sorted({name for name in labels if labels.count(name) > 1})
        if doubles:
            raise ValueError(
                f"task label(s) {', '.join(doubles)} used twice: give each a distinct `name`"
            )
        if self.samples < 0:
            raise ValueError(f"samples must be >= 0, got {self.samples}")


@dataclass
class RedTeamSection:
    """Red-team pairs: the model's own answers to training prompts, labelled and ranked."""

    prompts: Literal["shared", "builtin"] = field(
        default="shared",
        metadata={
            "help": '"shared": the train split of the shared harmful and benign sets below; '
            '"builtin": the 80 built-in demo prompts (40 harmful, 40 benign, disjoint from the '
            "suite)."
        },
    )
    harmful_sources: list[str] = field(
        default_factory=lambda: ["harmful-instructions"],
        metadata={"help": "Catalogue sets of harmful requests (never a held-out set)."},
    )
    harmful_limit: int | None = field(
        default=200, metadata={"help": "Harmful prompts drawn (seeded) from their train split."}
    )
    benign_sources: list[str] = field(
        default_factory=lambda: ["benign"],
        metadata={
            "help": "Catalogue sets of benign instructions: BFPO's helpfulness buffer (every "
            "answer counts as safe, so their pairs are both-safe)."
        },
    )
    benign_limit: int | None = field(
        default=100, metadata={"help": "Benign prompts drawn (seeded) from their train split."}
    )
    exclude_sources: list[str] = field(
        default_factory=lambda: ["advbench", "harmbench"],
        metadata={
            "help": "Rows a training mix holds from these benchmarks are dropped (they are "
            "evaluation sets); prompts equal to an evaluation prompt are always dropped."
        },
    )
    builtin_limit: int | None = field(
        default=None,
        metadata={"help": "With prompts: builtin, use N of the 80 (half harmful, half benign)."},
    )
    synthesis: RedTeamConfig = field(
        default_factory=RedTeamConfig,
        metadata={"help": "Sampling, labelling and ranking (`safealign synth redteam`)."},
    )


@dataclass
class CourseCorrectionSection:
    """C2-Syn course-correction pairs (`safealign synth course-correction`)."""

    synthesis: CourseCorrectionConfig = field(
        default_factory=CourseCorrectionConfig,
        metadata={"help": "Its settings; `data` names harmful (request, response) pairs."},
    )


@dataclass
class TrainRun:
    """One trained variant: which pairs, and the trainer's settings."""

    name: str = field(
        default="bfpo", metadata={"help": "The variant's name in the report (bfpo, sft, dpo...)."}
    )
    pairs: list[Literal["redteam", "course_correction", "data"]] = field(
        default_factory=lambda: ["redteam"],
        metadata={
            "help": "Pair sets trained on: the red-team stage's, the C2-Syn stage's, and/or "
            "`config.data` (a file or hub id, e.g. PKU-SafeRLHF)."
        },
    )
    helpfulness_data: str | None = field(
        default=None,
        metadata={
            "help": "Helpfulness buffer from a preference file or hub id (e.g. UltraFeedback): "
            "its pairs are marked both-safe (DESIGN.md 2.2)."
        },
    )
    helpfulness_format: str | None = field(
        default=None, metadata={"help": "Loader format of helpfulness_data (None: detected)."}
    )
    helpfulness_column_map: dict[str, str | list[str]] | None = field(
        default=None, metadata={"help": "Column map of helpfulness_data."}
    )
    helpfulness_split: str | None = field(
        default=None, metadata={"help": "Split of helpfulness_data, for sources with several."}
    )
    helpfulness_limit: int | None = field(
        default=None, metadata={"help": "Rows of helpfulness_data at most."}
    )
    config: TrainConfig = field(
        default_factory=TrainConfig,
        metadata={"help": "Trainer settings (`safealign train`): loss, LoRA, steps, ..."},
    )


@dataclass
class TrainSection:
    """Training: one variant per run."""

    runs: list[TrainRun] = field(
        default_factory=lambda: [TrainRun()],
        metadata={"help": "Training runs, each a variant.", "cli": False},
    )

    def __post_init__(self) -> None:
        names = [r.name for r in self.runs]
        if len(set(names)) != len(names) or BASE in names:
            raise ValueError(f'train run names must be distinct and not "{BASE}", got {names}')


@dataclass
class IcvSection:
    """The in-context safety vector (Safety Arithmetic's Safe-Align), on base and/or trained."""

    alpha: float = field(default=0.1, metadata={"help": "Steering strength."})
    pairs: Literal["shared", "redteam"] = field(
        default="shared",
        metadata={
            "help": '"shared": contrast pairs from vector.sources in the shared data; "redteam": '
            "the red-team stage's harmful-prompt pairs with one safe and one unsafe answer "
            "(the model's own), needing no shared data."
        },
    )
    rule: str = field(default="icv", metadata={"help": f"Rule: {', '.join(RULES)}."})
    apply_to: list[str] = field(
        default_factory=lambda: [BASE],
        metadata={"help": f'Models steered: "{BASE}" and/or names of train runs.'},
    )
    vector: IcvConfig = field(
        default_factory=IcvConfig,
        metadata={"help": "How the vector is read (`safealign steer icv`); read from the base."},
    )


@dataclass
class HdrSection:
    """Harm Direction Removal: subtract a harm fine-tune's top-k task vector."""

    scale: float = field(default=3.0, metadata={"help": "lambda (paper: 2-3)."})
    top_k: float | None = field(default=0.1, metadata={"help": "Fraction of tau kept."})
    apply_to: list[str] = field(
        default_factory=lambda: [BASE],
        metadata={"help": f'Models repaired: "{BASE}" and/or names of train runs.'},
    )
    harm_vector: HarmVectorConfig = field(
        default_factory=HarmVectorConfig,
        metadata={"help": "The harm fine-tune (`safealign steer harm-vector`)."},
    )


@dataclass
class SteerSection:
    """Safety Arithmetic: ICV and/or HDR variants."""

    icv: IcvSection | None = field(default=None, metadata={"help": "ICV variants."})
    hdr: HdrSection | None = field(default=None, metadata={"help": "HDR variants."})


@dataclass
class TargetSpec:
    """One target of the recipe, checked on every made variant."""

    task: str = field(default="suite", metadata={"help": "Task label."})
    measure: Literal["harmful_compliance", "over_refusal", "over_refusal_rise"] = field(
        default="harmful_compliance",
        metadata={"help": "over_refusal_rise: over-refusal minus the untouched model's."},
    )
    limit: float = field(default=0.1, metadata={"help": "Largest value that meets the target."})


@dataclass
class RunConfig:
    """`safealign run CONFIG.yaml`: stages from measuring a model to a report (docs/run.md)."""

    name: str = field(default="run", metadata={"help": "Name shown in the report."})
    model: str = field(
        default="embedded",
        metadata={"help": 'The model to make safe: "embedded", a folder or a hub id.'},
    )
    dtype: str = field(
        default="auto", metadata={"help": "bf16 where the hardware runs it natively, else float32."}
    )
    output_dir: str = field(
        default="runs/run", metadata={"help": "The run folder (stages, report, best model)."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds sampling, training and the samples."})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Shared data folder (default $SAFEALIGN_SHARED_DATA or ../shared/data)."},
    )
    evaluation: EvaluationSection | None = field(
        default_factory=EvaluationSection,
        metadata={"help": "Baseline and variant evaluation (null: no evaluation)."},
    )
    redteam: RedTeamSection | None = field(default=None, metadata={"help": "Red-team pairs."})
    course_correction: CourseCorrectionSection | None = field(
        default=None, metadata={"help": "C2-Syn pairs."}
    )
    train: TrainSection | None = field(default=None, metadata={"help": "Trained variants."})
    steer: SteerSection | None = field(default=None, metadata={"help": "Steered variants."})
    guard_eval: GuardEvalConfig | None = field(
        default=None, metadata={"help": "Guard evaluation (`safealign guard eval`)."}
    )
    targets: list[TargetSpec] = field(
        default_factory=list, metadata={"help": "Targets checked on made variants.", "cli": False}
    )
    max_over_refusal_rise: float = field(
        default=0.05,
        metadata={
            "help": "The best variant is the safest one whose over-refusal rises by at most "
            "this over the untouched model's on every task."
        },
    )


RUN_OWNED: dict[type, tuple[str, ...]] = {
    RedTeamConfig: ("data", "data_format", "data_split", "output", "model", "dtype", "seed"),
    CourseCorrectionConfig: ("output", "model", "dtype", "seed"),
    TrainConfig: ("model", "output_dir", "resume", "dtype", "seed"),
    IcvConfig: ("model", "output", "data_dir", "seed"),
    HarmVectorConfig: ("model", "output_dir", "data_dir", "seed"),
    GuardEvalConfig: ("output", "data_dir"),
}
"""Keys of nested verb configs that the run sets itself (from its top-level keys and folder)."""


def load_run_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """A `RunConfig` from YAML (a `run:` section or the whole file) and flags, fully checked."""
    config = load_config(RunConfig, path, overrides, section="run")
    check_run_config(config, config_origin(path))
    return config


def check_run_config(config: RunConfig, origin: str) -> None:
    """What the types alone cannot say: run-owned keys, task settings, names that must exist."""
    for key, value in _nested_configs(config):
        defaults = type(value)()
        for name in RUN_OWNED[type(value)]:
            if getattr(value, name) != getattr(defaults, name):
                raise ConfigError(
                    f'{origin}: key "{key}.{name}" is set by the run (from its top-level model, '
                    f"dtype, seed, data_dir and output_dir); remove it."
                )
    if config.evaluation is not None:
        from safealign.evaluate.tasks import eval_config_from  # evaluate registers its tasks

        for index, spec in enumerate(config.evaluation.tasks):
            eval_config_from(
                {"task": spec.task, **spec.settings},
                origin=origin,
                prefix=f"evaluation.tasks[{index}]",
            )
    runs = [r.name for r in config.train.runs] if config.train else []
    for section in ("icv", "hdr"):
        steer = getattr(config.steer, section, None) if config.steer else None
        for name in steer.apply_to if steer else []:
            if name != BASE and name not in runs:
                raise ConfigError(
                    f'{origin}: key "steer.{section}.apply_to" names "{name}", which is neither '
                    f'"{BASE}" nor a train run ({", ".join(runs) or "none configured"}).'
                )
    hdr = config.steer.hdr if config.steer else None
    for index, run in enumerate(config.train.runs if config.train else []):
        full = run.config.merge or run.config.full_finetune
        if hdr is not None and run.name in hdr.apply_to and not full:
            raise ConfigError(
                f'{origin}: key "steer.hdr.apply_to" names train run "{run.name}", whose LoRA '
                "adapter has no full weights to subtract from: set "
                f'"train.runs[{index}].config.merge: true", or drop it from apply_to.'
            )
    made = {"redteam": config.redteam, "course_correction": config.course_correction}
    icv = config.steer.icv if config.steer else None
    if icv is not None and icv.pairs == "redteam" and config.redteam is None:
        raise ConfigError(
            f'{origin}: key "steer.icv.pairs" is "redteam", but the `redteam` section is '
            'missing: add it, or use pairs: "shared".'
        )
    for run in config.train.runs if config.train else []:
        for wanted, section in made.items():
            if wanted in run.pairs and section is None:
                raise ConfigError(
                    f'{origin}: train run "{run.name}" trains on {wanted} pairs, but the '
                    f"`{wanted}` section is missing: add it, or drop {wanted} from its pairs."
                )
        if "data" in run.pairs and run.config.data is None:
            raise ConfigError(
                f'{origin}: train run "{run.name}" lists "data" in pairs but sets no '
                "config.data (a file or hub id)."
            )
    labels = [t.label for t in config.evaluation.tasks] if config.evaluation else []
    for index, target in enumerate(config.targets):
        if target.task not in labels:
            raise ConfigError(
                f'{origin}: key "targets[{index}].task" is "{target.task}", which no evaluation '
                f"task is called ({', '.join(labels) or 'no evaluation configured'})."
            )


def _nested_configs(config: RunConfig) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if config.redteam:
        found.append(("redteam.synthesis", config.redteam.synthesis))
    if config.course_correction:
        found.append(("course_correction.synthesis", config.course_correction.synthesis))
    for index, run in enumerate(config.train.runs if config.train else []):
        found.append((f"train.runs[{index}].config", run.config))
    if config.steer and config.steer.icv:
        found.append(("steer.icv.vector", config.steer.icv.vector))
    if config.steer and config.steer.hdr:
        found.append(("steer.hdr.harm_vector", config.steer.hdr.harm_vector))
    if config.guard_eval:
        found.append(("guard_eval", config.guard_eval))
    return found


def section_dict(section: Any) -> Any:
    """A config section as plain data (for hashing and recording)."""
    if section is None:
        return None
    return dataclasses.asdict(section) if dataclasses.is_dataclass(section) else section
