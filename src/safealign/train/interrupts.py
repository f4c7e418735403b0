"""Ctrl-C in the training loops: every process stops after the same step, and the user is told
which checkpoint holds the work and which command resumes it."""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import Accelerator

from safealign.errors import RunInterrupted
from safealign.interrupts import StopRequest, resume_command
from safealign.train.checkpoints import CHECKPOINT_PREFIX, latest_checkpoint
from safealign.train.config import TrainConfig


def agreed_stop(stop: StopRequest, accelerator: Accelerator) -> bool:
    """Whether any process saw Ctrl-C: all processes stop after the same step (a process that
    stopped alone would leave the others waiting in a collective)."""
    if accelerator.num_processes == 1:
        return stop.requested
    flag = torch.tensor([float(stop.requested)], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


def interrupted_run(config: TrainConfig, stopped_at: str, in_memory: bool) -> RunInterrupted:
    """`RunInterrupted` for a training run: its newest checkpoint, and the command that resumes.

    With a model or samples passed in memory (`in_memory`), no command can rebuild them: the
    caller resumes by calling again with `resume=True` (the pipeline names its own command).
    """
    output_dir = Path(config.output_dir)
    checkpoint = latest_checkpoint(output_dir)
    if checkpoint is None:
        saved = f"no checkpoint yet (save_every: {config.save_every}); a resume starts afresh"
    else:
        step = int(checkpoint.name[len(CHECKPOINT_PREFIX) :])
        saved = f"checkpoint step {step} in {checkpoint}"
    if in_memory:
        resume = f"train() again with resume=True, the same model and samples ({output_dir})"
    else:
        resume = resume_command("train", output_dir / "train_config.json")
    return RunInterrupted(stopped_at=stopped_at, saved=saved, resume=resume)
