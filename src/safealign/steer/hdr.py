"""Harm Direction Removal: fine-tune a copy on harmful QA, then subtract its task vector.

`build_harm_vector` runs the project's own SFT (LoRA) on harmful answers from the shared
datasets; the adapter it writes is the harm vector tau_H (B @ A * scale per adapted matrix).
`safety_arithmetic` streams theta_target - lambda * top-k(tau_H) into a new checkpoint, limited
to an edit area when asked, and records how it was made in the folder's manifest.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import snapshot_download

from safealign.config import config_to_dict
from safealign.data import save_samples
from safealign.errors import ModelLoadError
from safealign.models import embedded_checkpoint
from safealign.models.loading import EMBEDDED_NAMES
from safealign.steer.config import HarmVectorConfig, SafetyArithmeticConfig
from safealign.steer.harm_data import harmful_qa
from safealign.steer.model_folder import steering_entry, write_model_manifest
from safealign.steer.task_vector import (
    ArithmeticResult,
    TaskVector,
    apply_task_vector,
    changed_layers,
    neighbourhood,
)
from safealign.train.config import TrainConfig
from safealign.train.losses import LossConfig
from safealign.train.trainer import train


@dataclass
class HarmVectorResult:
    adapter: Path
    examples: Path
    num_examples: int
    loss_first: float
    loss_last: float


def build_harm_vector(config: HarmVectorConfig) -> HarmVectorResult:
    """Fine-tune a LoRA copy of `config.model` on harmful answers; its adapter is tau_H."""
    output = Path(config.output_dir)
    samples = harmful_qa(config.sources, config.num_examples, config.data_dir, config.seed)
    if not samples:
        raise ModelLoadError(f"no harmful answers found in sources {config.sources}")
    examples = save_samples(samples, output / "harmful_qa.jsonl")
    extra = (
        {"lora_target_modules": config.lora_target_modules} if config.lora_target_modules else {}
    )
    train_config = TrainConfig(
        model=config.model,
        loss=LossConfig(name="sft"),
        pairs="sft",
        max_length=config.max_length,
        max_prompt_length=min(128, config.max_length - 1),
        learning_rate=config.learning_rate,
        max_steps=config.max_steps,
        batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        lora_r=config.lora_r,
        lora_alpha=2 * config.lora_r,
        dtype=config.dtype,
        seed=config.seed,
        output_dir=str(output / "train"),
        save_every=None,
        **extra,
    )
    result = train(train_config, samples=samples)
    if result.adapter_dir is None:
        raise ModelLoadError("the harm fine-tune wrote no adapter")
    losses = [row["loss"] for row in result.metrics if "loss" in row]
    return HarmVectorResult(
        adapter=result.adapter_dir,
        examples=examples,
        num_examples=len(samples),
        loss_first=losses[0] if losses else float("nan"),
        loss_last=losses[-1] if losses else float("nan"),
    )


def checkpoint_folder(spec: str) -> Path:
    """The safetensors checkpoint folder behind a model spec: "embedded", a checkpoint folder,
    a training run (its merged model/), or a hub id (downloaded or from the local cache)."""
    if spec.lower() in EMBEDDED_NAMES:
        return embedded_checkpoint()
    path = Path(spec).expanduser()
    if (path / "config.json").is_file():
        return path
    if (path / "model" / "config.json").is_file():
        return path / "model"
    if path.exists():
        raise ModelLoadError(
            f"{path} holds no checkpoint (config.json). Weight arithmetic needs full weights: "
            "train with --merge, or point to the merged model/ folder."
        )
    try:
        return Path(
            snapshot_download(
                spec, allow_patterns=["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt"]
            )
        )
    except Exception as exc:  # hub errors have many types; all mean "not reachable here"
        raise ModelLoadError(f"Could not find model {spec!r} locally or on the hub: {exc}") from exc


def harm_task_vector(spec: str, base: str) -> TaskVector:
    """A TaskVector from a harm-vector/train output folder, an adapter, or a full checkpoint."""
    path = Path(spec).expanduser()
    for candidate in (path / "train" / "adapter", path / "adapter", path):
        if (candidate / "adapter_config.json").is_file():
            return TaskVector(candidate)
    return TaskVector(checkpoint_folder(spec), base=checkpoint_folder(base))


def safety_arithmetic(config: SafetyArithmeticConfig) -> ArithmeticResult:
    """Write `config.output`: the target with lambda * top-k(tau_H) removed (in the edit area
    when `edit_area_from` is set), plus a manifest recording it (and an ICV to attach)."""
    target = checkpoint_folder(config.target)
    vector = harm_task_vector(config.harm_vector, config.base)
    layers = None
    if config.edit_area_from is not None:
        changed = changed_layers(checkpoint_folder(config.edit_area_from), target)
        if not changed:
            raise ModelLoadError(
                f"{config.target} does not differ from {config.edit_area_from} in any layer, so "
                "there is no edit area; leave edit_area_from unset to change every layer."
            )
        num_layers = _num_layers(target)
        layers = neighbourhood(changed, config.edit_neighbours, num_layers)
    result = apply_task_vector(
        target,
        vector,
        config.output,
        scale=config.scale,
        operation=config.operation,
        top_k=config.top_k,
        top_k_scope=config.top_k_scope,
        layers=layers,
    )
    steering = None
    if config.icv is not None:
        shutil.copy2(config.icv, Path(config.output) / "steering_vector.safetensors")
        steering = [
            steering_entry(
                "steering_vector.safetensors", config.icv_alpha, config.icv_rule, config.icv_layers
            )
        ]
    write_model_manifest(
        config.output,
        base=None,
        steering=steering,
        provenance={
            "method": "harm-direction-removal",
            "config": config_to_dict(config),
            "threshold": result.threshold,
            "entries_kept": result.entries_kept,
            "entries_total": result.entries_total,
            "layers": result.layers,
        },
    )
    return result


def _num_layers(folder: Path) -> int | None:
    config = json.loads((folder / "config.json").read_text())
    return config.get("num_hidden_layers")
