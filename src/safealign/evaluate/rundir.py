"""The run directory: its file names, its result type, and how a finished run is read back.

A run directory holds `run.json` (config, task, model, chat template, decoding settings),
`generations.jsonl` (one row per sample), `scores.jsonl` (one row per judge and generation),
`metrics.json`, `report.md` and `report.html`; also `generations.journal.jsonl` (answers
recorded batch by batch as they are generated, which `--resume` reuses after Ctrl-C) and, after
a Ctrl-C, `eval_config.json` (every setting as run: the config of the resume command). Runners
write it, reports and comparisons read it; both import this module, never each other.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safealign.errors import DataError

GENERATIONS = "generations.jsonl"
SCORES = "scores.jsonl"
METRICS = "metrics.json"
RUN = "run.json"
EVAL_CONFIG = "eval_config.json"
JOURNAL = "generations.journal.jsonl"


@dataclass
class RunResult:
    """Where a run was written and its metrics (metrics.json's content)."""

    path: Path
    metrics: dict[str, Any]


def run_dir_for(out: str | None, task: str, model: str) -> Path:
    """`out`, else runs/<task>-<model>-<time>."""
    if out:
        return Path(out)
    name = Path(model).name.replace(":", "-").replace("/", "-") or "model"
    return Path("runs") / f"{task}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """run.json and metrics.json of a run, for reports and comparisons."""
    run_dir = Path(run_dir)
    found = {}
    for name in (RUN, METRICS):
        if not (run_dir / name).is_file():
            raise DataError(
                f"no {name} here",
                path=run_dir,
                fix="Pass a run directory written by `safealign eval run`.",
            )
        try:
            found[name] = json.loads((run_dir / name).read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(
                f"not a JSON file written by safealign ({exc})",
                path=run_dir / name,
                fix="Run `safealign eval run` again to rewrite the run directory.",
            ) from exc
    return {"path": str(run_dir), "run": found[RUN], "metrics": found[METRICS]}
