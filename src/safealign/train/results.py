"""What a training run returns, shared by the offline trainer and the online PPO-Lagrangian loop
(so neither imports the other)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from safealign.models import LoadedModel

StepHook = Callable[[int, dict], None]
"""Called as `on_step(step, metrics)` after every optimizer step."""


@dataclass
class TrainResult:
    """What a run produced."""

    output_dir: Path
    model: LoadedModel
    """The trained policy (PEFT-wrapped for LoRA runs), or the LM inside a reward/cost model."""
    steps: int
    metrics: list[dict] = field(default_factory=list)
    """One row per optimizer step (also in output_dir/metrics.jsonl)."""
    num_pairs: int = 0
    num_truncated: int = 0
    skipped: list[str] = field(default_factory=list)
    adapter_dir: Path | None = None
    merged_dir: Path | None = None
    scalar_model_dir: Path | None = None
    plot: Path | None = None
