"""Training the encoder guard: masked multi-task loss, class weighting, then dev calibration.

The loss is a pure function of head logits and targets (tested on hand-computed numbers); the
loop around it only batches, steps and logs. After training, temperatures and thresholds are
fitted on the dev split (see calibration.py) and stored in the guard's config.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm

from safealign.errors import ConfigError
from safealign.guard.calibration import (
    ThresholdRule,
    best_f1_threshold,
    best_threshold,
    category_thresholds,
    fit_response_mix,
    fit_temperature,
    mix_features,
    review_band,
)
from safealign.guard.encoder_guard import (
    BINARY_HEADS,
    EncoderGuard,
    EncoderGuardConfig,
    apply_encoder_delta,
    encoder_delta,
    load_guard_encoder,
    response_probability,
)
from safealign.guard.examples import GuardExample
from safealign.guard.metrics import binary_metrics
from safealign.interrupts import StoppedAt, StopRequest, stop_requests
from safealign.io import atomic_path

log = logging.getLogger(__name__)


@dataclass
class EncoderGuardTrainConfig:
    """How to train an encoder guard (defaults work on the embedded MiniLM in minutes on CPU)."""

    encoder: str = "embedded"
    """Encoder spec: "embedded", a folder, or a hub id."""
    categories: list[str] | None = None
    """Category names to score; None = every category seen in the training data."""
    taxonomy: str = "coarse"
    """Taxonomy the category names belong to (recorded in verdicts)."""
    max_length: int = 128
    """Tokens per (request, response) pair during training and inference."""
    lora_rank: int = 8
    """LoRA rank on the encoder; 0 trains the heads only (frozen encoder)."""
    lora_layers: int = 2
    """Adapt only the top this many encoder layers (0 = all): cheaper backward passes."""
    finetune: str = "lora"
    """"lora" (adapters, or heads only at lora_rank 0) or "full" (the whole encoder but its
    word embeddings trains, at `learning_rate`)."""
    full_layers: int = 0
    """Full fine-tuning: train only the top this many encoder layers (0 = all)."""
    delta_rank: int = 64
    """Full fine-tuning: rank of the saved weight changes (0 = saved whole)."""
    hidden_size: int = 256
    """Width of the shared layer under the heads."""
    opening_tokens: int = 16
    """Pool the response's first this many tokens as extra features (0 = off)."""
    epochs: float = 2.0
    """Passes over the training examples (fractions allowed)."""
    batch_size: int = 32
    """Examples per optimisation step."""
    learning_rate: float = 5e-4
    """AdamW learning rate of the LoRA adapters."""
    head_learning_rate: float = 2e-3
    """AdamW learning rate of the heads."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    class_weighting: bool = True
    """Weight positives by negatives/positives per head, so rare harms are not ignored."""
    seed: int = 0
    """Seed for initialisation, shuffling and dropout."""
    bf16_autocast: bool = False
    """Run the training forward in bfloat16 autocast (weights and optimiser stay float32):
    several times faster on CPUs with AMX / avx512_bf16, slower on CPUs without."""
    max_steps: int | None = None
    """Stop after this many steps (None: run all epochs)."""
    max_train_examples: int | None = None
    """Train on a random subset of at most this many examples (None: all)."""
    response_threshold: ThresholdRule = field(
        default_factory=ThresholdRule,
        metadata={
            "help": "How the response-harm threshold is chosen on dev (default: best F1; "
            "beta > 1 or a recall floor flag more answers)."
        },
    )


@dataclass
class TrainResult:
    """A trained, calibrated guard and what happened while training it."""

    guard: EncoderGuard
    losses: list[float] = field(default_factory=list)
    dev_metrics: dict[str, dict] = field(default_factory=dict)


def train_encoder_guard(
    train: Sequence[GuardExample],
    dev: Sequence[GuardExample],
    config: EncoderGuardTrainConfig | None = None,
    *,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train heads (and LoRA adapters) on `train`, calibrate on `dev`, return the guard.

    With a `checkpoint` folder, Ctrl-C stops after the current step, saves the training state
    there and raises `StoppedAt`; `resume` continues from that state (same examples and
    settings), giving the guard an uninterrupted run gives.
    """
    config = config or EncoderGuardTrainConfig()
    if not train:
        raise ValueError("no training examples")
    torch.manual_seed(config.seed)
    if config.max_train_examples is not None and len(train) > config.max_train_examples:
        train = random.Random(config.seed).sample(list(train), config.max_train_examples)
    categories = config.categories or _categories_seen(train)
    guard = EncoderGuard.build(
        EncoderGuardConfig(
            encoder=config.encoder,
            categories=categories,
            taxonomy=config.taxonomy,
            max_length=config.max_length,
            hidden_size=config.hidden_size,
            lora_rank=config.lora_rank,
            lora_layers=config.lora_layers,
            finetune=config.finetune,
            full_layers=config.full_layers,
            delta_rank=config.delta_rank,
            opening_tokens=config.opening_tokens,
            severity=any(e.severity is not None for e in train),
        )
    )
    targets = example_targets(train, categories)
    pos_weights = (
        {
            "binary": balanced_pos_weight(targets["binary"], targets["binary_mask"]),
            "categories": balanced_pos_weight(targets["categories"], targets["categories_mask"]),
        }
        if config.class_weighting
        else None
    )
    heads_params = list(guard.heads.parameters())
    encoder_params = [p for p in guard.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": heads_params, "lr": config.head_learning_rate},
            {"params": encoder_params, "lr": config.learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    batches = _length_bucketed_batches(train, config, random.Random(config.seed))
    total = len(batches) if config.max_steps is None else min(config.max_steps, len(batches))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / max(1, total // 10)) * max(0.0, 1 - step / total),
    )
    guard.train(True)
    losses: list[float] = []
    fingerprint = training_fingerprint(config, train) if checkpoint else ""
    if checkpoint and resume and (checkpoint / "state" / "progress.json").is_file():
        losses = load_training_state(checkpoint, guard, optimizer, scheduler, fingerprint)
    waiting = stop_requests("guard training step") if checkpoint else nullcontext(StopRequest())
    with waiting as stop:
        steps = range(len(losses), total)
        for step in tqdm(steps, "guard train", total=total, initial=len(losses), unit="step"):
            indices = batches[step]
            chunk = [train[i] for i in indices]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16_autocast):
                logits = guard.logits(guard.tokenize([e.turns for e in chunk]))
            batch_targets = {k: v[indices] for k, v in targets.items()}
            loss = guard_loss(logits, batch_targets, pos_weights)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(heads_params + encoder_params, 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            if checkpoint and stop.requested and step + 1 < total:
                save_training_state(checkpoint, guard, optimizer, scheduler, losses, fingerprint)
                raise StoppedAt(
                    f"step {step + 1} of {total}", f"guard training state in {checkpoint}"
                )
    guard.train(False)
    if config.finetune == "full" and config.delta_rank > 0:
        compress_encoder(guard)  # calibrate the weights that will be shipped
    dev_metrics = calibrate(guard, dev, response_threshold=config.response_threshold) if dev else {}
    guard.config.training.update({"steps": len(losses), "dev_metrics": dev_metrics})
    return TrainResult(guard=guard, losses=losses, dev_metrics=dev_metrics)


def training_fingerprint(config: EncoderGuardTrainConfig, train: Sequence[GuardExample]) -> str:
    """A hash of the settings and examples: a saved state from another run is refused."""
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True, default=str).encode())
    for example in train:
        digest.update(json.dumps(asdict(example), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def save_training_state(
    folder: Path,
    guard: EncoderGuard,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    losses: list[float],
    fingerprint: str,
) -> None:
    """Heads, trainable encoder weights, optimizer, scheduler, RNG and losses, atomically."""
    with atomic_path(folder / "state") as staged:
        staged.mkdir()
        save_file(_trainable(guard), str(staged / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), staged / "optimizer.pt")
        torch.save(scheduler.state_dict(), staged / "scheduler.pt")
        torch.save(torch.get_rng_state(), staged / "rng.pt")
        progress = {"losses": losses, "fingerprint": fingerprint}
        (staged / "progress.json").write_text(json.dumps(progress))


def load_training_state(
    folder: Path,
    guard: EncoderGuard,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    fingerprint: str,
) -> list[float]:
    """Restore what `save_training_state` wrote; returns the losses of the steps done."""
    state = folder / "state"
    progress = json.loads((state / "progress.json").read_text())
    if progress["fingerprint"] != fingerprint:
        raise ConfigError(
            f"{folder} was written by a guard training run with other settings or data. "
            "Run without --resume to start again, or use another output."
        )
    weights = load_file(str(state / "trainable.safetensors"))
    params = dict(guard.heads.named_parameters(prefix="heads"))
    params.update(guard.encoder.named_parameters(prefix="encoder"))
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    optimizer.load_state_dict(torch.load(state / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(state / "scheduler.pt", weights_only=False))
    torch.set_rng_state(torch.load(state / "rng.pt", weights_only=False))
    return list(progress["losses"])


def _trainable(guard: EncoderGuard) -> dict[str, Tensor]:
    named = [*guard.heads.named_parameters(prefix="heads")]
    named += guard.encoder.named_parameters(prefix="encoder")
    return {name: p.detach().cpu().contiguous() for name, p in named if p.requires_grad}


@torch.no_grad()
def compress_encoder(guard: EncoderGuard) -> None:
    """Replace a fully fine-tuned encoder's weights by base + the saved low-rank delta."""
    base, _ = load_guard_encoder(guard.config.encoder)
    delta = encoder_delta(base, guard.encoder, guard.config.delta_rank)
    tuned = dict(guard.encoder.named_parameters())
    for name, param in base.named_parameters():
        tuned[name].copy_(param)
    apply_encoder_delta(guard.encoder, delta)


def example_targets(
    examples: Sequence[GuardExample], categories: Sequence[str]
) -> dict[str, Tensor]:
    """Target and mask tensors: binary [n, 3], categories [n, k], severity [n] (-100 = unknown)."""
    n, k = len(examples), max(len(categories), 1)
    binary = torch.zeros(n, len(BINARY_HEADS))
    binary_mask = torch.zeros(n, len(BINARY_HEADS))
    cats = torch.zeros(n, k)
    cats_mask = torch.zeros(n, 1)
    severity = torch.full((n,), -100, dtype=torch.long)
    column = {name: i for i, name in enumerate(categories)}
    for row, e in enumerate(examples):
        for index, value in enumerate((e.prompt_harmful, e.response_harmful, e.refusal)):
            if index > 0 and e.response is None:
                continue
            if value is not None:
                binary[row, index], binary_mask[row, index] = float(value), 1.0
        if e.categories is not None:
            cats_mask[row] = 1.0
            for name in e.categories:
                if name in column:
                    cats[row, column[name]] = 1.0
        if e.severity is not None:
            severity[row] = e.severity
    return {
        "binary": binary,
        "binary_mask": binary_mask,
        "categories": cats,
        "categories_mask": cats_mask.expand(n, k).contiguous(),
        "severity": severity,
    }


def balanced_pos_weight(labels: Tensor, mask: Tensor, limit: float = 20.0) -> Tensor:
    """Per column: (#negatives / #positives) among known labels, clipped to [1/limit, limit]."""
    positives = (labels * mask).sum(0)
    negatives = ((1 - labels) * mask).sum(0)
    weight = negatives / positives.clamp(min=1)
    weight = torch.where(positives > 0, weight, torch.ones_like(weight))
    return weight.clamp(1 / limit, limit)


def guard_loss(
    logits: dict[str, Tensor],
    targets: dict[str, Tensor],
    pos_weights: dict[str, Tensor] | None = None,
) -> Tensor:
    """Sum over heads of the masked mean BCE (binary, categories) and CE (severity)."""
    total = logits["binary"].new_zeros(())
    for key in ("binary", "categories"):
        mask = targets[f"{key}_mask"]
        if mask.sum() == 0:
            continue
        per_item = F.binary_cross_entropy_with_logits(
            logits[key],
            targets[key],
            pos_weight=None if pos_weights is None else pos_weights[key],
            reduction="none",
        )
        if key == "binary":  # each head its own masked mean
            counts = mask.sum(0)
            per_head = (per_item * mask).sum(0) / counts.clamp(min=1)
            total = total + per_head[counts > 0].sum()
        else:
            total = total + (per_item * mask).sum() / mask.sum()
    if (targets["severity"] >= 0).any():
        total = total + F.cross_entropy(logits["severity"], targets["severity"], ignore_index=-100)
    return total


@torch.inference_mode()
def calibrate(
    guard: EncoderGuard,
    dev: Sequence[GuardExample],
    min_positives: int = 10,
    *,
    response_threshold: ThresholdRule | None = None,
) -> dict[str, dict]:
    """Fit temperatures, thresholds and the response rule on `dev` (in place); return dev
    metrics per head. The response threshold follows `response_threshold` (default best F1),
    which is recorded in the guard's `training` record."""
    config = guard.config
    _, logits = guard.raw_logits([e.turns for e in dev])
    targets = example_targets(dev, config.categories)
    metrics = {}
    for index, head in enumerate(BINARY_HEADS):
        known = targets["binary_mask"][:, index] > 0
        labels = targets["binary"][known, index].numpy().astype(bool)
        if known.sum() == 0 or labels.all() or not labels.any():
            continue
        z = logits["binary"][known, index]
        temperature = fit_temperature(z, labels)
        probs = torch.sigmoid(z / temperature).numpy()
        threshold = best_f1_threshold(labels, probs)
        config.temperatures[head] = temperature
        config.thresholds[head] = threshold
        config.review_bands[head] = list(review_band(labels, probs, threshold))
        metrics[head] = binary_metrics(labels, probs, threshold).to_dict()
    rule = response_threshold or ThresholdRule()
    metrics.update(calibrate_response_rule(config, logits["binary"], targets, min_positives, rule))
    config.training["response_threshold_rule"] = asdict(rule)
    known = targets["categories_mask"][:, 0] > 0
    if config.categories and known.any():
        z = logits["categories"][known]
        labels = targets["categories"][known].numpy()
        config.category_temperature = fit_temperature(z.flatten(), labels.flatten())
        probs = torch.sigmoid(z / config.category_temperature).numpy()
        config.category_thresholds = category_thresholds(labels, probs, config.categories)
        metrics["categories_macro_f1"] = {
            "f1": float(
                np.mean(
                    [
                        binary_metrics(
                            labels[:, i], probs[:, i], config.category_thresholds[name]
                        ).f1
                        for i, name in enumerate(config.categories)
                        if labels[:, i].any()
                    ]
                    or [float("nan")]
                )
            )
        }
    return metrics


@torch.inference_mode()
def fit_review_bands(guard: EncoderGuard, dev: Sequence[GuardExample]) -> dict[str, list[float]]:
    """Review bands of a calibrated guard on `dev` (its temperatures, rule and thresholds kept):
    for guards calibrated before bands existed."""
    config = guard.config
    _, logits = guard.raw_logits([e.turns for e in dev])
    targets = example_targets(dev, config.categories)
    probabilities = guard.probabilities(logits)
    for index, head in enumerate(BINARY_HEADS):
        known = targets["binary_mask"][:, index] > 0
        labels = targets["binary"][known, index].numpy().astype(bool)
        if known.any() and labels.any() and not labels.all():
            probs = probabilities[head][known].numpy()
            threshold = config.thresholds.get(head, 0.5)
            config.review_bands[head] = list(review_band(labels, probs, threshold))
    return config.review_bands


def calibrate_response_rule(
    config: EncoderGuardConfig,
    binary: Tensor,
    targets: dict[str, Tensor],
    min_positives: int,
    rule: ThresholdRule | None = None,
) -> dict[str, dict]:
    """Choose how response harm is scored: the "mix" combination when dev has at least
    `min_positives` harmful responses, else the "product" rule; its threshold by `rule` on dev
    (default best F1)."""
    known = targets["binary_mask"][:, 1] > 0
    labels = targets["binary"][known, 1].numpy().astype(bool)
    if not known.any() or labels.all():
        return {}
    z = binary[known]
    t = config.temperatures
    if labels.sum() >= min_positives:
        features = mix_features(z[:, 0], z[:, 2], z[:, 1], t["prompt"], t["refusal"])
        config.response_mix = fit_response_mix(features, labels)
        config.response_rule = "mix"
    else:
        config.response_rule = "product"
    probs = response_probability(z, config).numpy()
    config.thresholds["response"] = best_threshold(labels, probs, rule)
    config.review_bands["response"] = list(
        review_band(labels, probs, config.thresholds["response"])
    )
    head_metrics = binary_metrics(labels, probs, config.thresholds["response"]).to_dict()
    return {f"response_{config.response_rule}": head_metrics}


def _categories_seen(examples: Sequence[GuardExample]) -> list[str]:
    seen: dict[str, None] = {}
    for e in examples:
        for name in e.categories or []:
            seen.setdefault(name, None)
    return list(seen)


def _length_bucketed_batches(
    examples: Sequence[GuardExample], config: EncoderGuardTrainConfig, rng: random.Random
) -> list[list[int]]:
    """Batches of similar length (less padding), in random order, for `epochs` passes."""
    batches: list[list[int]] = []
    passes = int(np.ceil(config.epochs))
    for epoch in range(passes):
        order = list(range(len(examples)))
        rng.shuffle(order)
        if epoch == passes - 1 and config.epochs % 1:
            order = order[: int(len(order) * (config.epochs % 1))]
        # sort within windows of 50 batches: similar lengths together, still shuffled overall
        window = config.batch_size * 50
        for start in range(0, len(order), window):
            block = sorted(order[start : start + window], key=lambda i: _length(examples[i]))
            epoch_batches = [
                block[j : j + config.batch_size] for j in range(0, len(block), config.batch_size)
            ]
            rng.shuffle(epoch_batches)
            batches.extend(epoch_batches)
    return batches


def _length(example: GuardExample) -> int:
    return len(example.prompt) + len(example.response or "")
