"""Ctrl-C in `safealign guard train`: the work folder beside the guard, and what the user reads.

After a Ctrl-C, `<output>.checkpoint/` holds the recipe's config as run (what the resume command
loads) and, when the encoder loop stopped at a step, its training state. It is removed when the
guard is saved. Answers the LM generates for the response heads are cached as they come (see
`guard.generated`), so an interrupted generation resumes by itself.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from safealign.errors import RunInterrupted
from safealign.interrupts import StoppedAt, resume_command
from safealign.io import write_json_atomic


def work_folder(output: str | Path) -> Path:
    """`<output>.checkpoint/`: where a stopped run's state and config go."""
    return Path(f"{output}.checkpoint")


def interrupted(
    kind: str, work: Path, config: Any, exc: KeyboardInterrupt, resumable: bool
) -> RunInterrupted:
    """`RunInterrupted` for a guard recipe of `--kind kind` stopped by `exc`; writes the recipe
    config as run (resume off) into `work`, for the resume command."""
    settings = asdict(config)
    if "resume" in settings:
        settings["resume"] = False
    write_json_atomic(work / "config.json", settings)
    if isinstance(exc, StoppedAt):
        stopped_at, saved = exc.stopped_at, exc.saved
    else:
        stopped_at = "guard training, mid-step or while preparing"
        state = work / "state"
        saved = f"an earlier training state in {state}" if state.is_dir() else "no training state"
    flags = ("--kind", kind)
    if resumable:
        command = resume_command("guard train", work / "config.json", *flags)
    else:  # the LLM guard recipe keeps no training state: the command starts it again
        saved += " (this recipe keeps no training state: it starts again)"
        command = resume_command("guard train", work / "config.json", *flags).removesuffix(
            " --resume"
        )
    return RunInterrupted(stopped_at=stopped_at, saved=saved, resume=command)
