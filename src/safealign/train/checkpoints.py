"""Resumable checkpoints: trainable weights, optimizer, scheduler, RNG and data position.

Only the trainable parameters are stored (a LoRA run's checkpoint is megabytes, not the whole
model). Each checkpoint is a folder written through `atomic_path`, so a crash mid-write leaves
the previous checkpoint intact and never a half-written one that `--resume` would trust.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from safealign.errors import ConfigError
from safealign.io import atomic_path

CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class TrainProgress:
    """Where training stands: enough to continue exactly where it stopped."""

    step: int = 0
    """Optimizer steps done."""
    epoch: int = 0
    """Current epoch (0-based)."""
    batches_in_epoch: int = 0
    """Micro-batches of the current epoch already consumed."""


def save_checkpoint(
    output_dir: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: TrainProgress,
    config_fingerprint: str,
    keep: int = 2,
) -> Path:
    """Write `checkpoint-<step>/` atomically, then drop all but the `keep` newest."""
    target = Path(output_dir) / f"{CHECKPOINT_PREFIX}{progress.step:07d}"
    with atomic_path(target) as staged:
        staged.mkdir()
        save_file(trainable_state(model), str(staged / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), staged / "optimizer.pt")
        torch.save(scheduler.state_dict(), staged / "scheduler.pt")
        torch.save(_rng_state(), staged / "rng.pt")
        state = {**asdict(progress), "config_fingerprint": config_fingerprint}
        (staged / "progress.json").write_text(json.dumps(state, indent=2))
    for old in list_checkpoints(output_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config_fingerprint: str,
) -> TrainProgress:
    """Restore everything `save_checkpoint` wrote; refuse a checkpoint from another config."""
    path = Path(path)
    state = json.loads((path / "progress.json").read_text())
    if state.pop("config_fingerprint") != config_fingerprint:
        raise ConfigError(
            f"{path} was written by a run with different settings (model, data, method or "
            "optimisation). Resume with the same config, or use a new output_dir."
        )
    weights = load_file(str(path / "trainable.safetensors"))
    missing = set(trainable_state(model)) - set(weights)
    if missing:
        raise ConfigError(f"{path} lacks trainable weights {sorted(missing)[:3]}...")
    model.load_state_dict(weights, strict=False)
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    _set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return TrainProgress(**state)


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints in `output_dir`, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.glob(f"{CHECKPOINT_PREFIX}*") if (p / "progress.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1] if found else None


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that receive gradients, by name, detached and contiguous (for saving)."""
    return {
        name: param.detach().contiguous().cpu()
        for name, param in model.named_parameters()
        if param.requires_grad
    }


def _rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
