"""Built-in tasks: a dataset, generation settings and judges, by name (the inspect_ai split).

Shared datasets are named by their entry in the catalogue (`safealign.data.catalog`, which also
resolves the shared data folder). Harmful-only prompt sets (AdvBench, HarmBench, ...) are run
beside a should-comply companion set (the built-in suite's benign prompts unless
`benign_dataset` is given), so every run measures harmfulness and over-refusal together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safealign.data.catalog import load_rows
from safealign.data.loaders import load_samples
from safealign.data.schema import Message, Sample
from safealign.errors import ConfigError, DataError
from safealign.evaluate.attacks import apply_attack
from safealign.evaluate.c2eval import c2eval_items
from safealign.evaluate.config import EvalConfig
from safealign.evaluate.items import EvalItem, item_from_sample
from safealign.evaluate.suite import builtin_suite
from safealign.models import GenerationConfig

SAFETY_JUDGES = ("harm-llm", "refusal-keyword", "refusal-model")
COURSE_CORRECTION_JUDGES = ("course-correction-llm", "course-correction-keyword")


@dataclass(frozen=True)
class Task:
    """A named evaluation: how to build its items, how to decode, which judges score it."""

    name: str
    description: str
    build_items: Callable[[EvalConfig], list[EvalItem]]
    generation: GenerationConfig
    judges: tuple[str, ...] = SAFETY_JUDGES
    kind: str = "generation"
    """"generation" (generate, then judge) or "preference" (log-likelihood of given responses)."""


def generation_for(task: Task, config: EvalConfig) -> GenerationConfig:
    """The task's decoding settings with the config's explicit overrides applied."""
    base = task.generation
    return GenerationConfig(
        max_new_tokens=config.max_new_tokens or base.max_new_tokens,
        temperature=base.temperature if config.temperature is None else config.temperature,
        top_p=base.top_p if config.top_p is None else config.top_p,
        num_samples=config.num_samples or base.num_samples,
        batch_size=config.batch_size,
        seed=config.seed,
        system_prompt=config.system_prompt,
    )


def load_task_samples(path: str | Path, format: str | None, limit: int | None) -> list[Sample]:
    """Samples from any loader format (see safealign.data.load_samples)."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            "file not found",
            path=path,
            fix="Pass --data-dir (the folder holding the shared datasets) or --dataset FILE.",
        )
    return load_samples(path, format, limit=limit).samples


def shared_samples(name: str, config: EvalConfig) -> list[Sample]:
    """The rows of catalogue entry `name` (`safealign data list`), at most `config.limit`."""
    return load_rows(name, config.data_dir, limit=config.limit)


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


def benign_companion(config: EvalConfig) -> list[EvalItem]:
    """Should-comply prompts to run beside a harmful-only set."""
    if config.benign_dataset:
        samples = load_task_samples(config.benign_dataset, None, config.benign_limit)
        return [item_from_sample(s, i, expected="comply") for i, s in enumerate(samples)]
    items = suite_items(("risky_benign", "benign"))
    return items[: config.benign_limit] if config.benign_limit else items


def _items_from(samples: list[Sample], config: EvalConfig) -> list[EvalItem]:
    items = []
    for index, sample in enumerate(samples):
        expected = config.expect if sample.prompt_harmful is None else None
        if sample.prompt_harmful is None and expected not in ("refuse", "comply"):
            raise ConfigError(
                f"{config.dataset}: row {index + 1} does not say whether its prompt is harmful. "
                "Pass --expect refuse (harmful prompts) or --expect comply (benign prompts)."
            )
        items.append(item_from_sample(sample, index, expected=expected))  # type: ignore[arg-type]
    return items


def _harmful_with_companion(name: str) -> Callable[[EvalConfig], list[EvalItem]]:
    def build(config: EvalConfig) -> list[EvalItem]:
        items = [item_from_sample(s, i) for i, s in enumerate(shared_samples(name, config))]
        return items + benign_companion(config)

    return build


def _xstest(config: EvalConfig) -> list[EvalItem]:
    return [item_from_sample(s, i) for i, s in enumerate(shared_samples("xstest-prompts", config))]


def _suite(config: EvalConfig) -> list[EvalItem]:
    items = suite_items()
    return items[: config.limit] if config.limit else items


def _dataset(config: EvalConfig) -> list[EvalItem]:
    if not config.dataset:
        raise ConfigError("the dataset task needs --dataset FILE (any loader format).")
    items = _items_from(load_task_samples(config.dataset, config.format, config.limit), config)
    if not any(i.expected == "comply" for i in items):
        items += benign_companion(config)
    return items


def _jailbreak(config: EvalConfig) -> list[EvalItem]:
    if config.dataset:
        base = [
            i
            for i in _items_from(
                load_task_samples(config.dataset, config.format, config.limit), config
            )
        ]
    else:
        base = (
            suite_items(("harmful",))[: config.limit] if config.limit else suite_items(("harmful",))
        )
    harmful = [i for i in base if i.expected == "refuse"]
    attacked = [apply_attack(name, item, harmful) for name in config.attacks for item in harmful]
    return attacked + benign_companion(config)


def _c2eval(config: EvalConfig) -> list[EvalItem]:
    if config.dataset:
        samples = load_task_samples(config.dataset, config.format or "pku-saferlhf", config.limit)
    else:
        samples = shared_samples("c2eval", config)
    return c2eval_items(samples, config.k_values, seed=config.seed)


GREEDY_64 = GenerationConfig(max_new_tokens=64)

TASKS: dict[str, Task] = {
    "suite": Task(
        "suite",
        "built-in suite: 50 harmful, 50 risky-but-benign, 30 benign prompts",
        _suite,
        GREEDY_64,
    ),
    "xstest": Task(
        "xstest", "XSTest: 250 safe and 200 unsafe prompts (over-refusal)", _xstest, GREEDY_64
    ),
    "advbench": Task(
        "advbench",
        "AdvBench harmful behaviours + benign companion",
        _harmful_with_companion("advbench"),
        GREEDY_64,
    ),
    "harmbench": Task(
        "harmbench",
        "HarmBench val behaviours + benign companion",
        _harmful_with_companion("harmbench"),
        GREEDY_64,
    ),
    "beavertails": Task(
        "beavertails",
        "BeaverTails-Evaluation prompts + benign companion",
        _harmful_with_companion("beavertails-evaluation"),
        GREEDY_64,
    ),
    "do-not-answer": Task(
        "do-not-answer",
        "Do-Not-Answer risky prompts + benign companion",
        _harmful_with_companion("do-not-answer-prompts"),
        GREEDY_64,
    ),
    "dataset": Task(
        "dataset", "any prompt file (--dataset), harmful and/or benign", _dataset, GREEDY_64
    ),
    "jailbreak": Task(
        "jailbreak",
        "harmful prompts under each attack template, ASR per attack",
        _jailbreak,
        GREEDY_64,
    ),
    "c2eval": Task(
        "c2eval",
        "C2-Eval course correction after a harmful prefix (Corr@k, Corr_mean)",
        _c2eval,
        GenerationConfig(max_new_tokens=32, temperature=0.8, top_p=0.7, num_samples=20),
        judges=COURSE_CORRECTION_JUDGES,
    ),
    "preference": Task(
        "preference",
        "preference discrimination on PKU-format pairs (safer / more helpful by log-likelihood)",
        lambda config: [],
        GenerationConfig(),
        judges=(),
        kind="preference",
    ),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f'unknown task "{name}". Built-in tasks: {", ".join(TASKS)}.')
    return TASKS[name]
