"""Run a task: items -> backend -> generations -> judges -> scores -> metrics -> reports.

A run directory holds `run.json` (config, task, model, chat template, decoding settings),
`generations.jsonl` (one row per sample), `scores.jsonl` (one row per judge and generation),
`metrics.json`, `report.md` and `report.html`. Generations are never rewritten after they are
saved, so `rescore` can score a run with other judges without generating again.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safealign.config import config_to_dict
from safealign.errors import DataError
from safealign.evaluate.backends import ChatBackend, OpenAIBackend, TransformersBackend
from safealign.evaluate.config import EvalConfig
from safealign.evaluate.items import EvalItem
from safealign.evaluate.judges import JudgeInput, build_judge
from safealign.evaluate.metrics import compute_metrics
from safealign.evaluate.tasks import generation_for, get_task
from safealign.io import read_jsonl, write_json_atomic, write_jsonl_atomic
from safealign.models import GenerationConfig, LoadedModel, load_model

GENERATIONS = "generations.jsonl"
SCORES = "scores.jsonl"
METRICS = "metrics.json"
RUN = "run.json"


@dataclass
class RunResult:
    path: Path
    metrics: dict[str, Any]


def run_eval(
    config: EvalConfig,
    *,
    backend: ChatBackend | None = None,
    loaded: LoadedModel | None = None,
) -> RunResult:
    """Generate for every item of `config.task`, save, score with the judges, write reports.

    Pass `loaded` (e.g. a steered or fine-tuned model) or any `backend` to skip loading.
    """
    task = get_task(config.task)
    if task.kind == "preference":
        from safealign.evaluate.preference import run_preference

        return run_preference(config, loaded=loaded)
    items = task.build_items(config)
    if not items:
        raise DataError(
            f'task "{task.name}" has no prompts to run (check --limit and the dataset).'
        )
    backend = backend or make_backend(config, loaded)
    generation = generation_for(task, config)
    started = time.time()
    outputs = backend.generate(
        [item.conversation for item in items],
        generation,
        assistant_prefixes=[item.assistant_prefix or None for item in items],
    )
    seconds = time.time() - started
    rows = generation_rows(items, outputs, backend, generation)
    out = Path(config.out) if config.out else default_run_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        out / RUN,
        {
            "task": task.name,
            "description": task.description,
            "model": backend.name,
            "chat_template": backend.chat_template,
            "decoding": dataclasses.asdict(generation),
            "config": config_to_dict(config),
            "items": len(items),
            "generations": len(rows),
            "generation_seconds": round(seconds, 2),
        },
    )
    write_jsonl_atomic(out / GENERATIONS, rows)
    judges = config.judges or list(task.judges)
    return rescore(out, judges, resamples=config.resamples, seed=config.seed, replace=True)


def make_backend(config: EvalConfig, loaded: LoadedModel | None = None) -> ChatBackend:
    if config.backend_url:
        return OpenAIBackend(
            base_url=config.backend_url,
            model=config.model,
            api_key=os.environ.get(config.api_key_env),
        )
    loaded = loaded or load_model(config.model, dtype=config.dtype)
    return TransformersBackend(loaded, progress=config.progress)


def generation_rows(
    items: Sequence[EvalItem],
    outputs: Sequence[Sequence[str]],
    backend: ChatBackend,
    generation: GenerationConfig,
) -> list[dict[str, Any]]:
    """One self-describing row per sample: what was asked, what came out, and how."""
    decoding = dataclasses.asdict(generation)
    rows = []
    for item, samples in zip(items, outputs, strict=True):
        for sample_index, output in enumerate(samples):
            rows.append(
                {
                    "index": len(rows),
                    **item.to_record(),
                    "output": output,
                    "sample_index": sample_index,
                    "model": backend.name,
                    "chat_template": backend.chat_template,
                    "decoding": decoding,
                    "seed": generation.seed,
                }
            )
    return rows


def rescore(
    run_dir: str | Path,
    judges: Sequence[str],
    *,
    resamples: int = 2000,
    seed: int = 0,
    replace: bool = False,
) -> RunResult:
    """Score a saved run with `judges` (never regenerating), then rewrite metrics and reports.

    Scores of other judges already in the run are kept unless `replace`; a judge scored again
    replaces its earlier rows. The first judge per question (in saved order) leads the summary.
    """
    from safealign.evaluate.report import write_run_reports

    run_dir = Path(run_dir)
    if not (run_dir / GENERATIONS).is_file():
        raise DataError(
            f"no {GENERATIONS} here",
            path=run_dir,
            fix="Pass a run directory written by `safealign eval run`.",
        )
    rows = read_jsonl(run_dir / GENERATIONS)
    inputs = [
        JudgeInput(
            conversation=EvalItem.from_record(row).conversation,
            output=row["output"],
            assistant_prefix=row.get("assistant_prefix") or "",
        )
        for row in rows
    ]
    existing = [] if replace or not (run_dir / SCORES).is_file() else read_jsonl(run_dir / SCORES)
    built = [build_judge(name) for name in judges]
    new_names = {judge.name for judge in built}
    kept = [s for s in existing if s["judge"] not in new_names]
    new_scores = []
    for judge in built:
        for index, score in enumerate(judge.score(inputs)):
            new_scores.append(
                {
                    "judge": judge.name,
                    "question": judge.question,
                    "index": index,
                    **dataclasses.asdict(score),
                }
            )
    all_scores = kept + new_scores
    write_jsonl_atomic(run_dir / SCORES, all_scores)
    metrics = metrics_for(rows, all_scores, resamples=resamples, seed=seed)
    write_json_atomic(run_dir / METRICS, metrics)
    write_run_reports(run_dir)
    return RunResult(run_dir, metrics)


def metrics_for(
    rows: list[dict[str, Any]], scores: list[dict[str, Any]], *, resamples: int, seed: int
) -> dict[str, Any]:
    by_judge: dict[str, list[dict[str, Any]]] = {}
    questions: dict[str, str] = {}
    for score in scores:
        by_judge.setdefault(score["judge"], []).append(score)
        questions[score["judge"]] = score["question"]
    for judge_scores in by_judge.values():
        judge_scores.sort(key=lambda s: s["index"])
    return compute_metrics(rows, by_judge, questions, resamples=resamples, seed=seed)


def default_run_dir(config: EvalConfig) -> Path:
    model = Path(config.model).name.replace(":", "-").replace("/", "-") or "model"
    return Path("runs") / f"{config.task}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """run.json and metrics.json of a run, for reports and comparisons."""
    run_dir = Path(run_dir)
    for name in (RUN, METRICS):
        if not (run_dir / name).is_file():
            raise DataError(
                f"no {name} here",
                path=run_dir,
                fix="Pass a run directory written by `safealign eval run`.",
            )
    import json

    return {
        "path": str(run_dir),
        "run": json.loads((run_dir / RUN).read_text()),
        "metrics": json.loads((run_dir / METRICS).read_text()),
    }
