"""Run a task by name: look it up, resolve its own settings, and hand both to its runner.

The runner of a generation task is `run_generation_task` (generate, save, judge, report); the
preference task brings its own (log-likelihoods of given responses). Nothing here knows which
task is which.
"""

from __future__ import annotations

from safealign.evaluate.backends import ChatBackend
from safealign.evaluate.config import EvalConfig
from safealign.evaluate.rundir import RunResult
from safealign.evaluate.scoring import rescore
from safealign.evaluate.task import resolve_settings
from safealign.evaluate.tasks import get_task
from safealign.models import LoadedModel

__all__ = ["RunResult", "rescore", "run_eval"]


def run_eval(
    config: EvalConfig,
    *,
    backend: ChatBackend | None = None,
    loaded: LoadedModel | None = None,
) -> RunResult:
    """Run `config.task` and write its run directory (generations, scores, metrics, reports).

    Pass `loaded` (e.g. a steered or fine-tuned model) or any `backend` to skip loading.
    """
    task = get_task(config.task)
    settings = resolve_settings(task, config)
    return task.run(task, config, settings, backend=backend, loaded=loaded)
