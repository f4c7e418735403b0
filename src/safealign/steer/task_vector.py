"""Task vectors (fine-tuned minus base weights) and their arithmetic, streamed from safetensors.

Safety Arithmetic's Harm Direction Removal: tau_H = theta_harmful - theta_base; keep the top k%
of entries by magnitude (globally or per tensor); theta_target <- theta_target - lambda * tau_H,
optionally only in an edit area (layers that differ between two models, plus neighbours).

Everything streams: a global top-k threshold is found exactly in two counting passes over the
float32 bit patterns (non-negative floats sort like their bits), and the result is written
tensor by tensor, so memory holds one tensor of each model at a time, never three models.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from safealign.models.loading import MODEL_MANIFEST
from safealign.steer.checkpoints import (
    INDEX_FILE,
    AdapterDeltas,
    TensorReader,
    layer_of,
    write_safetensors_streamed,
)

BUCKETS = 1 << 16


# --- the math, on tensors -------------------------------------------------------------------


def topk_threshold(magnitudes: Tensor, fraction: float) -> float:
    """The k-th largest value of `magnitudes` with k = ceil(fraction * n): keeping entries
    >= it keeps the top `fraction` (ties at the threshold are all kept)."""
    flat = magnitudes.reshape(-1)
    k = max(1, math.ceil(fraction * flat.numel()))
    return float(torch.topk(flat.float(), k, sorted=False).values.min())


def keep_top_k(tau: Tensor, threshold: float) -> Tensor:
    """Zero every entry whose magnitude is below `threshold`."""
    return torch.where(tau.abs() >= threshold, tau, torch.zeros_like(tau))


def combine(theta: Tensor, tau: Tensor, scale: float, operation: str) -> Tensor:
    """theta - scale * tau ("subtract", e.g. removing a harm direction) or theta + scale * tau
    ("add"), computed in float32 and returned in theta's dtype."""
    sign = {"subtract": -1.0, "add": 1.0}[operation]
    return (theta.float() + sign * scale * tau.float()).to(theta.dtype)


def neighbourhood(layers: set[int], neighbours: int, num_layers: int | None) -> set[int]:
    """`layers` widened by `neighbours` on each side (clipped to the model's layers)."""
    wide = {i + d for i in layers for d in range(-neighbours, neighbours + 1)}
    top = num_layers if num_layers is not None else max(wide, default=-1) + 1
    return {i for i in wide if 0 <= i < top}


# --- task vector sources --------------------------------------------------------------------


@dataclass
class TaskVector:
    """theta_finetuned - theta_base, read lazily: from two checkpoint folders (full weights),
    or from a PEFT adapter alone (its B @ A * scale is exactly the change it makes)."""

    finetuned: Path
    base: Path | None = None
    _full: tuple[TensorReader, TensorReader] | None = field(default=None, repr=False)
    _adapter: AdapterDeltas | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.finetuned = Path(self.finetuned)
        if (self.finetuned / "adapter_config.json").is_file():
            self._adapter = AdapterDeltas(self.finetuned)
        else:
            if self.base is None:
                raise ValueError(
                    f"{self.finetuned} is a full checkpoint: give its base model as well"
                )
            self._full = (TensorReader(self.base), TensorReader(self.finetuned))

    @property
    def names(self) -> list[str]:
        if self._adapter is not None:
            return self._adapter.names
        base, tuned = self._full  # type: ignore[misc]
        return [n for n in tuned.names if n in base.shard_of]

    def get(self, name: str) -> Tensor:
        """tau for one tensor, float32."""
        if self._adapter is not None:
            return self._adapter.delta(name)
        base, tuned = self._full  # type: ignore[misc]
        return tuned.get(name).float() - base.get(name).float()

    def items(self, names: list[str] | None = None) -> Iterator[tuple[str, Tensor]]:
        for name in self.names if names is None else names:
            yield name, self.get(name)


def global_topk_threshold(vector: TaskVector, names: list[str], fraction: float) -> float:
    """The global top-k threshold over all entries of `names`, exact, in two streamed passes:
    count entries per high 16 bits of |tau|'s float32 pattern, find the bucket holding the k-th
    largest, then count that bucket's low 16 bits. Memory: two 65,536-entry histograms."""
    high = torch.zeros(BUCKETS, dtype=torch.int64)
    total = 0
    for _, tau in vector.items(names):
        bits = tau.abs().float().reshape(-1).view(torch.int32)
        high += torch.bincount(bits >> 16, minlength=BUCKETS)
        total += bits.numel()
    k = max(1, math.ceil(fraction * total))
    above = torch.flip(high, [0]).cumsum(0)  # entries in bucket >= b, counted from the top
    top_bucket = BUCKETS - 1 - int(torch.searchsorted(above, k))
    remaining = k - int(high[top_bucket + 1 :].sum())
    low = torch.zeros(BUCKETS, dtype=torch.int64)
    for _, tau in vector.items(names):
        bits = tau.abs().float().reshape(-1).view(torch.int32)
        in_bucket = bits[(bits >> 16) == top_bucket]
        low += torch.bincount(in_bucket & 0xFFFF, minlength=BUCKETS)
    low_above = torch.flip(low, [0]).cumsum(0)
    low_bits = BUCKETS - 1 - int(torch.searchsorted(low_above, remaining))
    pattern = torch.tensor([(top_bucket << 16) | low_bits], dtype=torch.int32)
    return float(pattern.view(torch.float32)[0])


# --- edit area ------------------------------------------------------------------------------


def changed_layers(base: str | Path, edited: str | Path, tolerance: float = 0.0) -> set[int]:
    """Decoder layers holding a tensor that differs between two checkpoints (streamed)."""
    with TensorReader(base) as left, TensorReader(edited) as right:
        changed = set()
        for name in right.names:
            layer = layer_of(name)
            if layer is None or layer in changed or name not in left.shard_of:
                continue
            a, b = left.get(name), right.get(name)
            if a.shape != b.shape or float((a.float() - b.float()).abs().max()) > tolerance:
                changed.add(layer)
    return changed


# --- applying -------------------------------------------------------------------------------


@dataclass
class ArithmeticResult:
    """What `apply_task_vector` did."""

    output: Path
    threshold: float | None
    """Global top-k threshold on |tau| (None: per tensor, or no top-k)."""
    tensors_changed: int
    entries_kept: int
    entries_total: int
    layers: list[int] | None
    """The layers the change was limited to (None: all)."""


def apply_task_vector(
    target: str | Path,
    vector: TaskVector,
    output: str | Path,
    *,
    scale: float,
    operation: str = "subtract",
    top_k: float | None = 0.1,
    top_k_scope: str = "global",
    layers: set[int] | None = None,
) -> ArithmeticResult:
    """Write `output`: the checkpoint `target` with `scale * tau` subtracted (or added) on the
    tensors the task vector covers, limited to `layers` when given, keeping only the top
    `top_k` fraction of tau by magnitude (None keeps all). Other files (config, tokenizer) are
    copied, so `output` is a normal checkpoint."""
    if operation not in ("subtract", "add"):
        raise ValueError(f'operation must be "subtract" or "add", got {operation!r}')
    if top_k_scope not in ("global", "tensor"):
        raise ValueError(f'top_k_scope must be "global" or "tensor", got {top_k_scope!r}')
    if top_k is not None and not 0.0 < top_k <= 1.0:
        raise ValueError(f"top_k must lie in (0, 1], got {top_k}")
    target, output = Path(target), Path(output)
    reader = TensorReader(target)
    selected = [
        n
        for n in vector.names
        if n in reader.shard_of and (layers is None or layer_of(n) in layers)
    ]
    threshold = None
    if top_k is not None and top_k_scope == "global" and selected:
        threshold = global_topk_threshold(vector, selected, top_k)
    counts = {"kept": 0, "total": 0}
    chosen = set(selected)

    def edited(name: str) -> Tensor:
        theta = reader.get(name)
        if name not in chosen:
            return theta
        tau = vector.get(name)
        if tau.shape != theta.shape:
            raise ValueError(
                f"{name}: task vector shape {tuple(tau.shape)} != {tuple(theta.shape)}"
            )
        cut = threshold
        if top_k is not None and top_k_scope == "tensor":
            cut = topk_threshold(tau.abs(), top_k)
        if cut is not None:
            tau = keep_top_k(tau, cut)
        counts["kept"] += int((tau != 0).sum())
        counts["total"] += tau.numel()
        return combine(theta, tau, scale, operation)

    output.mkdir(parents=True, exist_ok=True)
    for item in target.iterdir():
        # the target's own manifest (if any) describes the target, not this result
        if item.is_file() and item.suffix != ".safetensors" and item.name != MODEL_MANIFEST:
            shutil.copy2(item, output / item.name)
    for shard in reader.shards:
        names = reader.names_in(shard)
        layout = [(n, *reader.layout(n)) for n in names]
        staged = output / f".{shard}.partial"
        write_safetensors_streamed(staged, layout, (edited(n) for n in names))
        staged.replace(output / shard)
    if (target / INDEX_FILE).is_file():
        shutil.copy2(target / INDEX_FILE, output / INDEX_FILE)
    reader.close()
    return ArithmeticResult(
        output=output,
        threshold=threshold,
        tensors_changed=len(selected),
        entries_kept=counts["kept"],
        entries_total=counts["total"],
        layers=sorted(layers) if layers is not None else None,
    )


def apply_task_vector_in_memory(
    target: dict[str, Tensor],
    tau: dict[str, Tensor],
    *,
    scale: float,
    operation: str = "subtract",
    top_k: float | None = 0.1,
    top_k_scope: str = "global",
    layers: set[int] | None = None,
) -> dict[str, Tensor]:
    """The same arithmetic on state dicts held in memory: the reference the streamed path is
    tested against (and fine for small models)."""
    selected = [n for n in tau if n in target and (layers is None or layer_of(n) in layers)]
    threshold = None
    if top_k is not None and top_k_scope == "global" and selected:
        threshold = topk_threshold(torch.cat([tau[n].abs().reshape(-1) for n in selected]), top_k)
    result = dict(target)
    for name in selected:
        cut = (
            topk_threshold(tau[name].abs(), top_k)
            if top_k and top_k_scope == "tensor"
            else threshold
        )
        masked = keep_top_k(tau[name], cut) if cut is not None else tau[name]
        result[name] = combine(target[name], masked, scale, operation)
    return result
