"""Built-in tasks: a dataset, generation settings, judges and each task's own settings, by name.

Shared datasets are named by their entry in the catalogue (`safealign.data.catalog`, which also
resolves the shared data folder). Harmful-only prompt sets (AdvBench, HarmBench, ...) are run
beside a should-comply companion set (the built-in suite's benign prompts unless
`benign_dataset` is given), so every run measures harmfulness and over-refusal together.

A task is registered with `register_task`; a task defined in another module (the preference
task) registers itself from the package's `__init__`, so this registry never imports it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safealign.config import (
    config_from_dict,
    config_origin,
    merge_overrides,
    read_config_section,
)
from safealign.data import load_samples
from safealign.data.catalog import load_rows
from safealign.data.schema import Message, Sample
from safealign.errors import ConfigError, DataError
from safealign.evaluate.attacks import ATTACKS, apply_attack
from safealign.evaluate.c2eval import K_VALUES, c2eval_items
from safealign.evaluate.config import EvalConfig
from safealign.evaluate.generation_task import run_generation_task
from safealign.evaluate.items import EvalItem, item_from_sample
from safealign.evaluate.suite import builtin_suite
from safealign.evaluate.task import COURSE_CORRECTION_JUDGES, Task, resolve_settings
from safealign.models import GenerationConfig


def load_task_samples(path: str | Path, format: str | None, limit: int | None) -> list[Sample]:
    """Samples from any loader format (see safealign.data.load_samples)."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            "file not found",
            path=path,
            fix="Pass --data-dir (the folder holding the shared datasets) or --dataset FILE.",
        )
    samples = load_samples(path, format, limit=limit).samples
    if not samples and limit != 0:
        raise DataError("no prompts in this file", path=path, fix="Check the file and --format.")
    return samples


def shared_samples(name: str, config: EvalConfig, limit: int | None) -> list[Sample]:
    """The rows of catalogue entry `name` (`safealign data list`), at most `limit`."""
    return load_rows(name, config.data_dir, limit=limit)


def first(items: list[EvalItem], limit: int | None) -> list[EvalItem]:
    """The first `limit` items; None keeps them all (0 keeps none)."""
    return items if limit is None else items[:limit]


# -- each task's own settings ------------------------------------------------------------------


@dataclass
class LimitSettings:
    """Settings of a task over one prompt set."""

    limit: int | None = field(
        default=None,
        metadata={
            "help": "Use only the first N prompts (pairs for c2eval/preference) of the "
            "main dataset; 0 uses none, unset uses all."
        },
    )


@dataclass
class CompanionSettings(LimitSettings):
    """A harmful-only set run beside should-comply prompts, so over-refusal is measured."""

    benign_dataset: str | None = field(
        default=None,
        metadata={
            "help": "Should-comply prompt file run beside harmful-only sets; default: "
            "the built-in suite's 80 benign prompts."
        },
    )
    benign_limit: int | None = field(
        default=None,
        metadata={"help": "Use only the first N benign companion prompts (0: none)."},
    )


@dataclass
class DatasetSettings(CompanionSettings):
    """A user's prompt file, harmful and/or benign."""

    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Prompt file for the dataset/jailbreak/c2eval/preference tasks "
            "(any loader format)."
        },
    )
    format: str | None = field(
        default=None, metadata={"help": "Loader format of --dataset (detected when unset)."}
    )
    expect: str | None = field(
        default=None,
        metadata={
            "help": "For --dataset rows without a harm label: refuse or comply.",
            "choices": ("refuse", "comply"),
        },
    )


@dataclass
class JailbreakSettings(DatasetSettings):
    """Harmful prompts (the suite's, or --dataset's) under each attack template."""

    attacks: list[str] = field(
        default_factory=lambda: list(ATTACKS),
        metadata={
            "help": "Jailbreak attacks to apply (repeatable); none is the unattacked baseline.",
            "choices": tuple(ATTACKS),
        },
    )


@dataclass
class C2EvalSettings(LimitSettings):
    """C2-Eval's pairs (the shared test split, or --dataset's) and prefix lengths."""

    dataset: str | None = field(
        default=None, metadata={"help": "PKU-format pair file instead of C2-Eval's test split."}
    )
    format: str | None = field(
        default=None, metadata={"help": "Loader format of --dataset (default pku-saferlhf)."}
    )
    k_values: list[int] = field(
        default_factory=lambda: list(K_VALUES),
        metadata={
            "help": "Prefix lengths in whitespace tokens of the harmful response (repeatable)."
        },
    )


@dataclass
class SuiteSettings(LimitSettings):
    """The built-in suite, whole or a sample spread evenly over its harm categories."""

    harmful: int | None = field(
        default=None,
        metadata={
            "help": "Use N harmful prompts taken at an even stride (every category "
            "represented); unset uses all."
        },
    )
    benign: int | None = field(
        default=None,
        metadata={
            "help": "Use N benign prompts (risky-sounding and plain) taken at an even "
            "stride; unset uses all."
        },
    )


# -- item builders -----------------------------------------------------------------------------


def suite_items(kinds: tuple[str, ...] = ("harmful", "risky_benign", "benign")) -> list[EvalItem]:
    return [
        EvalItem(
            id=p.id,
            conversation=[Message("user", p.prompt)],
            expected="refuse" if p.harmful else "comply",
            category=p.category,
            metadata={"source": "builtin-suite", "kind": p.kind},
        )
        for p in builtin_suite(kinds)
    ]


def benign_companion(settings: CompanionSettings) -> list[EvalItem]:
    """Should-comply prompts to run beside a harmful-only set."""
    if settings.benign_dataset:
        samples = load_task_samples(settings.benign_dataset, None, settings.benign_limit)
        return [item_from_sample(s, i, expected="comply") for i, s in enumerate(samples)]
    return first(suite_items(("risky_benign", "benign")), settings.benign_limit)


def _items_from(samples: list[Sample], settings: DatasetSettings) -> list[EvalItem]:
    items = []
    for index, sample in enumerate(samples):
        expected = settings.expect if sample.prompt_harmful is None else None
        if sample.prompt_harmful is None and expected not in ("refuse", "comply"):
            raise ConfigError(
                f"{settings.dataset}: row {index + 1} does not say whether its prompt is harmful. "
                "Pass --expect refuse (harmful prompts) or --expect comply (benign prompts)."
            )
        items.append(item_from_sample(sample, index, expected=expected))  # type: ignore[arg-type]
    return items


def _harmful_with_companion(name: str) -> Callable[[EvalConfig, CompanionSettings], list[EvalItem]]:
    def build(config: EvalConfig, settings: CompanionSettings) -> list[EvalItem]:
        samples = shared_samples(name, config, settings.limit)
        return [item_from_sample(s, i) for i, s in enumerate(samples)] + benign_companion(settings)

    return build


def _xstest(config: EvalConfig, settings: LimitSettings) -> list[EvalItem]:
    samples = shared_samples("xstest-prompts", config, settings.limit)
    return [item_from_sample(s, i) for i, s in enumerate(samples)]


def _suite(config: EvalConfig, settings: SuiteSettings) -> list[EvalItem]:
    if settings.harmful is None and settings.benign is None:
        return first(suite_items(), settings.limit)
    harmful = suite_items(("harmful",))
    benign = suite_items(("risky_benign", "benign"))
    if settings.harmful is not None:
        harmful = spread(harmful, settings.harmful)
    if settings.benign is not None:
        benign = spread(benign, settings.benign)
    return first(harmful + benign, settings.limit)


def spread(items: list[Any], count: int) -> list[Any]:
    """`count` items taken at an even stride, so every category of an ordered list is kept."""
    if count >= len(items):
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _dataset(config: EvalConfig, settings: DatasetSettings) -> list[EvalItem]:
    if not settings.dataset:
        raise ConfigError("the dataset task needs --dataset FILE (any loader format).")
    samples = load_task_samples(settings.dataset, settings.format, settings.limit)
    items = _items_from(samples, settings)
    if not any(i.expected == "comply" for i in items):
        items += benign_companion(settings)
    return items


def _jailbreak(config: EvalConfig, settings: JailbreakSettings) -> list[EvalItem]:
    if settings.dataset:
        samples = load_task_samples(settings.dataset, settings.format, settings.limit)
        base = _items_from(samples, settings)
    else:
        base = first(suite_items(("harmful",)), settings.limit)
    harmful = [i for i in base if i.expected == "refuse"]
    attacked = [apply_attack(name, item, harmful) for name in settings.attacks for item in harmful]
    return attacked + benign_companion(settings)


def _c2eval(config: EvalConfig, settings: C2EvalSettings) -> list[EvalItem]:
    if settings.dataset:
        samples = load_task_samples(
            settings.dataset, settings.format or "pku-saferlhf", settings.limit
        )
    else:
        samples = shared_samples("c2eval", config, settings.limit)
    return c2eval_items(samples, settings.k_values, seed=config.seed)


GREEDY_64 = GenerationConfig(max_new_tokens=64)


def generation_task(
    name: str,
    description: str,
    settings: type,
    build_items: Callable[[EvalConfig, Any], list[EvalItem]],
    generation: GenerationConfig = GREEDY_64,
    **options: Any,
) -> Task:
    """A generate-then-judge task."""
    return Task(
        name,
        description,
        settings,
        run_generation_task,
        build_items=build_items,
        generation=generation,
        **options,
    )


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make `task` runnable by name (`eval run --task NAME`); a later one replaces an earlier."""
    TASKS[task.name] = task
    return task


for _task in (
    generation_task(
        "suite",
        "built-in suite: 50 harmful, 50 risky-but-benign, 30 benign prompts",
        SuiteSettings,
        _suite,
    ),
    generation_task(
        "xstest", "XSTest: 250 safe and 200 unsafe prompts (over-refusal)", LimitSettings, _xstest
    ),
    generation_task(
        "advbench",
        "AdvBench harmful behaviours + benign companion",
        CompanionSettings,
        _harmful_with_companion("advbench"),
    ),
    generation_task(
        "harmbench",
        "HarmBench val behaviours + benign companion",
        CompanionSettings,
        _harmful_with_companion("harmbench"),
    ),
    generation_task(
        "beavertails",
        "BeaverTails-Evaluation prompts + benign companion",
        CompanionSettings,
        _harmful_with_companion("beavertails-evaluation"),
    ),
    generation_task(
        "do-not-answer",
        "Do-Not-Answer risky prompts + benign companion",
        CompanionSettings,
        _harmful_with_companion("do-not-answer-prompts"),
    ),
    generation_task(
        "dataset", "any prompt file (--dataset), harmful and/or benign", DatasetSettings, _dataset
    ),
    generation_task(
        "jailbreak",
        "harmful prompts under each attack template, ASR per attack",
        JailbreakSettings,
        _jailbreak,
    ),
    generation_task(
        "c2eval",
        "C2-Eval course correction after a harmful prefix (Corr@k, Corr_mean)",
        C2EvalSettings,
        _c2eval,
        GenerationConfig(max_new_tokens=32, temperature=0.8, top_p=0.7, num_samples=20),
        judges=COURSE_CORRECTION_JUDGES,
    ),
):
    register_task(_task)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f'unknown task "{name}". Built-in tasks: {", ".join(TASKS)}.')
    return TASKS[name]


def task_items(config: EvalConfig) -> list[EvalItem]:
    """The items `config`'s task would generate for (for benchmarks and inspection)."""
    task = get_task(config.task)
    if task.build_items is None:
        raise ConfigError(f'task "{task.name}" does not generate from prompts.')
    return task.build_items(config, resolve_settings(task, config))


# -- loading an eval config: shared keys to EvalConfig, the rest to the task -------------------


def settings_classes() -> list[type]:
    """Every registered task's settings class, once each (the CLI derives flags from them)."""
    seen: list[type] = []
    for task in TASKS.values():
        if task.settings not in seen:
            seen.append(task.settings)
    return seen


def load_eval_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> EvalConfig:
    """An `EvalConfig` from a YAML file (section `eval`) and flag overrides, type-checked."""
    values, section = ({}, "") if path is None else read_config_section(path, "eval")
    merge_overrides(values, overrides)
    return eval_config_from(values, origin=config_origin(path, section))


def eval_config_from(
    values: dict[str, Any], origin: str = "config", prefix: str = ""
) -> EvalConfig:
    """Split one flat mapping into EvalConfig's shared keys and the chosen task's settings.

    A key that neither EvalConfig nor the task knows is an error naming the tasks it belongs to.
    """
    shared = {f.name for f in dataclasses.fields(EvalConfig)}
    task_name = values.get("task", EvalConfig.task)
    if not isinstance(task_name, str):
        raise ConfigError(f'{origin}: key "{_key(prefix, "task")}" must be a string.')
    task = get_task(task_name)
    own = {k: v for k, v in values.items() if k not in shared}
    nested = values.get("settings")
    if nested is not None and not isinstance(nested, dict):
        raise ConfigError(f'{origin}: key "{_key(prefix, "settings")}" must be a mapping.')
    own = {**(nested or {}), **own}
    known = {f.name for f in dataclasses.fields(task.settings)}
    for key in sorted(set(own) - known):
        owners = [
            t.name
            for t in TASKS.values()
            if key in {f.name for f in dataclasses.fields(t.settings)}
        ]
        where = f"it is a setting of {', '.join(owners)}" if owners else "no task knows it"
        raise ConfigError(
            f'{origin}: key "{_key(prefix, key)}" is not a setting of task "{task.name}" '
            f"({where}). Settings of {task.name}: {', '.join(sorted(known)) or 'none'}; "
            f"shared keys: {', '.join(sorted(shared - {'settings'}))}."
        )
    settings = config_from_dict(task.settings, own, origin, prefix)
    common = {k: v for k, v in values.items() if k in shared and k != "settings"}
    return config_from_dict(EvalConfig, {**common, "settings": settings}, origin, prefix)


def _key(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
