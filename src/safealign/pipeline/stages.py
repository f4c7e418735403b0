"""Named stages and their cache: `<run_dir>/stages/<name>/stage.json` says what a stage did.

A stage's config hash covers its own inputs (its config section and the run's model, dtype,
seed) and the hashes of the stages it depends on, so a change anywhere upstream reaches every
stage below it. A stage is skipped when its record says "done" with the same hash, unless it is
forced or a stage it depends on ran again this time. A stage that stopped part-way ("running",
"interrupted" or "failed") keeps its folder when its hash is unchanged, so it resumes from what
it saved (finished evaluation tasks, the trainer's last checkpoint); any other redo starts from
an empty folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safealign.errors import ConfigError
from safealign.io import write_json_atomic
from safealign.pipeline.results import StageRecord

STAGE_FILE = "stage.json"


@dataclass
class Stage:
    """One step of a run: what it reads, what it depends on, and the work itself."""

    name: str
    inputs: Any
    """Plain data (config section, model spec, ...) whose change means the stage must run again."""
    work: Callable[[Path], list[str]]
    """Called with the stage's folder; returns the files or folders it wrote (for the record)."""
    depends: list[str] = field(default_factory=list)
    saves: str = "nothing yet"
    """What the stage keeps when interrupted (for the Ctrl-C message)."""


def config_hash(inputs: Any, upstream: list[str]) -> str:
    """A stable digest of a stage's inputs and the hashes of the stages it depends on."""
    text = json.dumps({"inputs": inputs, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stage_folder(run_dir: Path, name: str) -> Path:
    return run_dir / "stages" / name


def read_record(run_dir: Path, name: str) -> dict[str, Any] | None:
    """The stage's stage.json, or None when it never started (or the file is unreadable)."""
    path = stage_folder(run_dir, name) / STAGE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_record(run_dir: Path, record: StageRecord) -> None:
    write_json_atomic(
        stage_folder(run_dir, record.name) / STAGE_FILE,
        {
            "name": record.name,
            "status": record.status,
            "config_hash": record.config_hash,
            "seconds": round(record.seconds, 2),
            "outputs": record.outputs,
        },
    )


def check_forced(forced: list[str], stages: list[Stage]) -> set[str]:
    """The --force names, checked against the stages this config runs."""
    names = [s.name for s in stages]
    unknown = [name for name in forced if name not in names]
    if unknown:
        raise ConfigError(
            f"--force {unknown[0]}: this run has no stage of that name. "
            f"Its stages: {', '.join(names)}."
        )
    return set(forced)


def plan(
    run_dir: Path, stages: list[Stage], forced: set[str]
) -> list[tuple[Stage, str, bool, bool]]:
    """For every stage in order: (stage, config hash, run it?, start from an empty folder?).

    A stage runs when forced, when any stage it depends on runs, or when its record is not
    "done" with the same hash. It starts empty unless it is resuming its own unfinished work.
    """
    hashes: dict[str, str] = {}
    runs: dict[str, bool] = {}
    out = []
    for stage in stages:
        digest = config_hash(stage.inputs, [hashes[d] for d in stage.depends])
        hashes[stage.name] = digest
        record = read_record(run_dir, stage.name)
        upstream_ran = any(runs[d] for d in stage.depends)
        same = record is not None and record.get("config_hash") == digest
        finished = same and record.get("status") == "done"  # type: ignore[union-attr]
        run = stage.name in forced or upstream_ran or not finished
        fresh = run and (stage.name in forced or upstream_ran or not same)
        runs[stage.name] = run
        out.append((stage, digest, run, fresh))
    return out


def clear_folder(run_dir: Path, name: str) -> Path:
    """An empty folder for a stage that starts over."""
    folder = stage_folder(run_dir, name)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder
