"""What a task is: a name, its own settings, how it runs, and (for generation tasks) its items.

inspect_ai's task functions are the model: the shared settings (model, decoding, judges,
output) live in `EvalConfig`, everything that only one task understands (limits, k values,
attacks, benign companions) in the task's own settings dataclass, `Task.settings`. A YAML file
or the command line writes both at the same level; `safealign.evaluate.tasks.eval_config_from`
sends each key to its owner and names the task a stray key belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from safealign.config import config_from_dict
from safealign.errors import ConfigError
from safealign.evaluate.config import EvalConfig
from safealign.evaluate.items import EvalItem
from safealign.evaluate.rundir import RunResult
from safealign.models import GenerationConfig, LoadedModel

SAFETY_JUDGES = ("refusal-keyword", "harm-guard", "refusal-model")
"""Headline harmful compliance and over-refusal from the keyword refusal judge, a second and
independent harmful-compliance judge (the guard's response verdict), and the model-based refusal
judge alongside. harm-llm is not here: on a small model it is not informative (judges.trust)."""
COURSE_CORRECTION_JUDGES = ("course-correction-llm", "course-correction-keyword")


class TaskRunner(Protocol):
    """Runs a task end to end and writes its run directory."""

    def __call__(
        self,
        task: Task,
        config: EvalConfig,
        settings: Any,
        *,
        backend: Any = None,
        loaded: LoadedModel | None = None,
    ) -> RunResult: ...


@dataclass(frozen=True)
class Task:
    """A named evaluation: its settings class, its runner, and what a generation runner needs."""

    name: str
    description: str
    settings: type
    """Dataclass of the settings only this task reads (its `limit`, `k_values`, ...)."""
    run: TaskRunner
    """Generate-then-judge (`run_generation_task`) or anything else, e.g. log-likelihoods."""
    build_items: Callable[[EvalConfig, Any], list[EvalItem]] | None = None
    """(config, settings) -> the prompts to answer, for generation tasks."""
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    """Decoding defaults; EvalConfig's decoding fields override them when set."""
    judges: tuple[str, ...] = SAFETY_JUDGES
    """Judges used when the config names none."""


def measured_name(task: Task, settings: Any) -> str:
    """What a run measured, by name: the prompt file's name for `--task dataset` (never the bare
    word "dataset"), "jailbreak on FILE" when another task reads a file, else the task's name."""
    dataset = getattr(settings, "dataset", None)
    if not dataset:
        return task.name
    file = Path(dataset).name
    return file if task.name == "dataset" else f"{task.name} on {file}"


def resolve_settings(task: Task, config: EvalConfig) -> Any:
    """`config.settings` as an instance of the task's settings class (None: its defaults)."""
    settings = config.settings
    if settings is None:
        return task.settings()
    if isinstance(settings, task.settings):
        return settings
    if isinstance(settings, dict):
        return config_from_dict(task.settings, settings, origin=f'settings of task "{task.name}"')
    raise ConfigError(
        f'task "{task.name}" takes settings of type {task.settings.__name__}, '
        f"got {type(settings).__name__}."
    )
