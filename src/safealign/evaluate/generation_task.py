"""The generate-then-judge runner: items -> backend -> saved generations -> judges -> reports.

Generations are written once and never rewritten, so `rescore` can score the run with other
judges without generating again. While they are generated they are also recorded batch by batch
(`generations.journal.jsonl`): Ctrl-C stops after the current batch with `RunInterrupted`, and
`--resume` generates only what the journal lacks, with the outputs an uninterrupted run gives.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safealign.config import config_to_dict
from safealign.errors import DataError, RunInterrupted
from safealign.evaluate.backends import ChatBackend, OpenAIBackend, TransformersBackend
from safealign.evaluate.config import EvalConfig
from safealign.evaluate.items import EvalItem
from safealign.evaluate.rundir import (
    EVAL_CONFIG,
    GENERATIONS,
    JOURNAL,
    RUN,
    RunResult,
    run_dir_for,
)
from safealign.evaluate.scoring import rescore
from safealign.evaluate.task import Task, measured_name
from safealign.interrupts import resume_command
from safealign.io import Journal, write_json_atomic, write_jsonl_atomic
from safealign.models import GenerationConfig, LoadedModel, load_model


def run_generation_task(
    task: Task,
    config: EvalConfig,
    settings: Any,
    *,
    backend: ChatBackend | None = None,
    loaded: LoadedModel | None = None,
) -> RunResult:
    """Generate for every item of `task`, save, score with the judges, write reports.

    Ctrl-C raises `RunInterrupted` naming the answers kept and the command that resumes.
    """
    if task.build_items is None:
        raise ValueError(f'task "{task.name}" has no items to generate for')
    items = task.build_items(config, settings)
    if not items:
        raise DataError(
            f'task "{task.name}" has no prompts to run (check --limit and the dataset).'
        )
    out = run_dir_for(config.out, task.name, config.model)
    out.mkdir(parents=True, exist_ok=True)
    in_memory = backend is not None or loaded is not None
    backend = backend or make_backend(config, loaded)
    generation = generation_for(task, config)
    started = time.time()
    try:
        outputs = backend.generate(
            [item.conversation for item in items],
            generation,
            assistant_prefixes=[item.assistant_prefix or None for item in items],
            journal=out / JOURNAL,
            resume=config.resume,
        )
    except KeyboardInterrupt:
        done = Journal.count(out / JOURNAL)
        raise RunInterrupted(
            stopped_at=f"prompt {done} of {len(items)}",
            saved=f"answers to {done} prompts in {out / JOURNAL}",
            resume=resume_eval(config, settings, out, in_memory),
        ) from None
    seconds = time.time() - started
    rows = generation_rows(items, outputs, backend, generation)
    write_json_atomic(
        out / RUN,
        {
            "task": task.name,
            "measured": measured_name(task, settings),
            "description": task.description,
            "model": backend.name,
            "chat_template": backend.chat_template,
            "decoding": dataclasses.asdict(generation),
            "config": config_to_dict(config) | {"settings": dataclasses.asdict(settings)},
            "items": len(items),
            "generations": len(rows),
            "generation_seconds": round(seconds, 2),
        },
    )
    write_jsonl_atomic(out / GENERATIONS, rows)
    judges = config.judges or list(task.judges)
    try:
        return rescore(out, judges, resamples=config.resamples, seed=config.seed, replace=True)
    except KeyboardInterrupt:
        raise RunInterrupted(
            stopped_at=f"judging, all {len(items)} prompts answered",
            saved=f"{len(rows)} answers in {out / GENERATIONS}",
            resume=resume_eval(config, settings, out, in_memory),
        ) from None


def resume_eval(config: EvalConfig, settings: Any, out: Path, in_memory: bool) -> str:
    """The command that resumes an interrupted run: `eval run` with the config as run, saved
    in the run directory. A model or backend given in memory cannot be named by a command."""
    if in_memory:
        return f"run_eval() again with resume=True and the same model (out={out})"
    as_run = dataclasses.replace(config, out=str(out), resume=False)
    saved = config_to_dict(as_run) | {"settings": dataclasses.asdict(settings)}
    write_json_atomic(out / EVAL_CONFIG, saved)
    return resume_command("eval run", out / EVAL_CONFIG)


def generation_for(task: Task, config: EvalConfig) -> GenerationConfig:
    """The task's decoding settings with the config's explicit overrides (None: not set)."""
    base = task.generation
    return GenerationConfig(
        max_new_tokens=base.max_new_tokens
        if config.max_new_tokens is None
        else config.max_new_tokens,
        temperature=base.temperature if config.temperature is None else config.temperature,
        top_p=base.top_p if config.top_p is None else config.top_p,
        num_samples=base.num_samples if config.num_samples is None else config.num_samples,
        batch_size=config.batch_size or GenerationConfig.batch_size,
        seed=config.seed,
        system_prompt=config.system_prompt,
    )


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
