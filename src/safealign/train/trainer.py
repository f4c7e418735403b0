"""The one trainer behind DPO, IPO, BFPO, SFT and reward/cost models, on `accelerate`.

Per optimizer step: `gradient_accumulation_steps` micro-batches, each ONE forward over chosen
and rejected stacked together; reference log-probs from the base model with the LoRA adapter
disabled (or a frozen copy, or a precomputed cache); the loss picked by name from the losses
table. Single-device runs and `accelerate launch` multi-GPU runs use the same code.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from safealign.config import config_to_dict
from safealign.data.schema import Sample
from safealign.errors import ConfigError, DataError
from safealign.interrupts import stop_requests
from safealign.io import write_json_atomic, write_jsonl_atomic
from safealign.models import LoadedModel, load_model, resolve_dtype
from safealign.models.logprobs import (
    collate_pairs,
    collated_logprobs,
    pack_sequences,
    supports_packing,
)
from safealign.train.checkpoints import (
    TrainProgress,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from safealign.train.config import TrainConfig
from safealign.train.fused_lora import fused_lora_forward
from safealign.train.interrupts import agreed_stop, interrupted_run
from safealign.train.losses import cost_model_loss, reward_model_loss
from safealign.train.outputs import save_policy
from safealign.train.pairs import (
    PairSet,
    TokenizedPreferencePair,
    pairs_from_samples,
    read_samples,
    tokenize_pairs,
)
from safealign.train.plots import plot_training_curves
from safealign.train.reference import precompute_reference, reference_mode
from safealign.train.results import StepHook, TrainResult
from safealign.train.reward_model import ScalarHeadModel, save_scalar_model
from safealign.train.safe_rlhf.loop import train_safe_rlhf

UNKNOWN_FLAG = -1.0
"""Safety flag value for responses without a label (losses that need flags reject it)."""


def train(
    config: TrainConfig,
    *,
    loaded: LoadedModel | None = None,
    samples: Sequence[Sample] | None = None,
    on_step: StepHook | None = None,
) -> TrainResult:
    """Train as `config` says; `loaded` (trained in place) and `samples` override its model/data.

    `on_step(step, metrics)` is called after every optimizer step, after any checkpoint.
    `objective: safe_rlhf` runs the online PPO-Lagrangian loop (`samples` are its prompts).
    Ctrl-C stops after the current step, saves a checkpoint of it and raises `RunInterrupted`
    (a second Ctrl-C stops at once; the last checkpoint saved before is named).
    """
    if config.objective == "safe_rlhf":
        return train_safe_rlhf(config, loaded=loaded, prompts=samples, on_step=on_step)
    accelerator = Accelerator(mixed_precision=_mixed_precision(config))
    set_seed(config.seed)
    output_dir = Path(config.output_dir)
    if accelerator.is_main_process:  # first: the resume command of an interrupt names it
        write_json_atomic(output_dir / "train_config.json", config_to_dict(config))
    in_memory = loaded is not None or samples is not None
    try:
        return _train(config, accelerator, loaded, samples, on_step, in_memory)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the loop started
        raise interrupted_run(config, "before the first step of this run", in_memory) from None


def _train(
    config: TrainConfig,
    accelerator: Accelerator,
    loaded: LoadedModel | None,
    samples: Sequence[Sample] | None,
    on_step: StepHook | None,
    in_memory: bool,
) -> TrainResult:
    output_dir = Path(config.output_dir)
    if loaded is None:
        weights_dtype = "float32" if config.full_finetune else config.dtype
        loaded = load_model(config.model, dtype=weights_dtype, device=accelerator.device)
    pair_set = build_pair_set(config, loaded, samples)
    if not pair_set.pairs:
        raise DataError(
            f"no training pairs for pair mode {config.pair_mode!r} "
            f"in {config.data or 'the samples'}.",
            fix="\n".join(pair_set.skipped[:5]) or None,
        )

    model, reference = _setup_model(config, loaded)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    pad_id = loaded.tokenizer.pad_token_id
    packed = config.packed and config.objective == "preference" and supports_packing(model)

    def collate(batch: list[TokenizedPreferencePair]) -> dict[str, Tensor]:
        return collate_preference_batch(batch, pad_id, packed=packed)

    batches_per_epoch = math.ceil(
        len(pair_set.pairs) / (config.batch_size * accelerator.num_processes)
    )
    steps_per_epoch = math.ceil(batches_per_epoch / config.gradient_accumulation_steps)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, math.ceil(config.warmup_ratio * total_steps), total_steps
    )
    fingerprint = run_fingerprint(config, loaded, pair_set)
    reference_cache = None
    needs_reference = config.objective == "preference" and not config.sft_only
    if needs_reference and config.precompute_reference:
        reference_cache = precompute_reference(
            model,
            reference,
            pair_set.pairs,
            collate,
            batch_size=max(8, config.batch_size),
            device=accelerator.device,
            cache_dir=(config.reference_cache_dir or output_dir)
            if accelerator.is_main_process
            else None,
            fingerprint=reference_fingerprint(config, loaded, pair_set),
            progress=config.progress and accelerator.is_local_main_process,
        )
    # The scheduler is stepped by hand once per optimizer step, so it is not prepared (accelerate
    # would step it once per process).
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = TrainProgress()
    metrics_path = output_dir / "metrics.jsonl"
    history: list[dict] = []
    if config.resume and (checkpoint := latest_checkpoint(output_dir)) is not None:
        progress = load_checkpoint(
            checkpoint, accelerator.unwrap_model(model), optimizer, scheduler, fingerprint
        )
        if metrics_path.is_file():
            history = [
                json.loads(line)
                for line in metrics_path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= progress.step
            ]
    if accelerator.is_main_process:
        write_jsonl_atomic(metrics_path, history)

    def compute_loss(batch: dict[str, Tensor]) -> tuple[Tensor, dict]:
        return _batch_loss(config, model, reference, reference_cache, batch, accelerator)

    bar = tqdm(
        total=total_steps,
        initial=progress.step,
        desc=f"train {config.objective if config.objective != 'preference' else config.pair_mode}",
        disable=not (config.progress and accelerator.is_local_main_process),
    )
    model.train()
    started = time.perf_counter()
    stopped = False
    try:
        with stop_requests("training step") as stop, _lora_forward(config, model):
            while progress.step < total_steps and not stopped:
                loader = accelerator.prepare_data_loader(
                    DataLoader(
                        pair_set.pairs,
                        batch_size=config.batch_size,
                        sampler=epoch_order(
                            len(pair_set.pairs), config.seed, progress.epoch, config.shuffle
                        ),
                        collate_fn=collate,
                        # Its own generator: iterating must not draw from the global RNG, which
                        # a checkpoint restores (dropout), or a resumed run would diverge.
                        generator=torch.Generator().manual_seed(config.seed),
                    )
                )
                if progress.batches_in_epoch:
                    loader = accelerator.skip_first_batches(loader, progress.batches_in_epoch)
                for group in _groups(loader, config.gradient_accumulation_steps):
                    row = _optimizer_step(
                        group, model, optimizer, scheduler, compute_loss, accelerator, config
                    )
                    progress.step += 1
                    progress.batches_in_epoch += len(group)
                    row.update(
                        step=progress.step,
                        epoch=progress.epoch,
                        seconds=time.perf_counter() - started,
                    )
                    history.append(row)
                    # Ctrl-C is taken here, after a whole step: its checkpoint is written even
                    # off the save_every grid, so no finished step is lost.
                    stopped = agreed_stop(stop, accelerator) and progress.step < total_steps
                    if accelerator.is_main_process:
                        with metrics_path.open("a") as handle:
                            handle.write(json.dumps(row) + "\n")
                        on_grid = config.save_every and progress.step % config.save_every == 0
                        if on_grid or stopped:
                            save_checkpoint(
                                output_dir,
                                accelerator.unwrap_model(model),
                                optimizer,
                                scheduler,
                                progress,
                                fingerprint,
                                keep=config.keep_checkpoints,
                            )
                    accelerator.wait_for_everyone()
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.4f}")
                    if on_step is not None:
                        on_step(progress.step, row)
                    if stopped or progress.step >= total_steps:
                        break
                else:
                    progress.epoch += 1
                    progress.batches_in_epoch = 0
    except KeyboardInterrupt:  # the second Ctrl-C: the step in progress is not saved
        stopped = True
    bar.close()
    if stopped:
        raise interrupted_run(config, f"step {progress.step} of {total_steps}", in_memory)
    result = TrainResult(
        output_dir=output_dir,
        model=loaded,
        steps=progress.step,
        metrics=history,
        num_pairs=len(pair_set.pairs),
        num_truncated=pair_set.num_truncated,
        skipped=pair_set.skipped,
    )
    try:
        if accelerator.is_main_process:
            _write_outputs(config, accelerator.unwrap_model(model), loaded, result)
        accelerator.wait_for_everyone()
    except KeyboardInterrupt:
        raise interrupted_run(
            config, f"writing the outputs after step {progress.step} of {total_steps}", in_memory
        ) from None
    return result


def build_pair_set(
    config: TrainConfig, loaded: LoadedModel, samples: Sequence[Sample] | None = None
) -> PairSet:
    """Samples (given, or read from `config.data`) -> pairs -> tokens, with what was dropped."""
    if samples is None:
        if config.data is None:
            raise ConfigError("no training data: set `data` in the config (or pass --data).")
        samples = read_samples(
            config.data,
            config.data_format,
            split=config.data_split,
            limit=config.data_limit,
            column_map=config.data_column_map,
        )
    pairs, skipped = pairs_from_samples(samples, config.pair_mode)
    tokenized, truncated = tokenize_pairs(
        pairs,
        loaded.tokenizer,
        max_length=config.max_length,
        max_prompt_length=config.max_prompt_length,
        system_prompt=config.system_prompt,
    )
    return PairSet(pairs=tokenized, num_truncated=truncated, skipped=skipped)


def collate_preference_batch(
    batch: list[TokenizedPreferencePair], pad_id: int, *, packed: bool = False
) -> dict[str, Tensor]:
    """Chosen sequences first, then rejected ones, in one forward: padded to one width, or
    `packed` (each prompt once, its responses after it, logits only where a response token is
    predicted; same log-probs, see `safealign.models.logprobs`)."""
    sequences = [p.chosen for p in batch] + [p.rejected for p in batch if p.rejected is not None]
    if packed:
        out = pack_sequences(sequences, pad_id).as_dict()
    else:
        out = collate_pairs(sequences, pad_id)
    out["chosen_safe"] = _flags([p.chosen_safe for p in batch])
    out["rejected_safe"] = _flags([p.rejected_safe for p in batch])
    out["index"] = torch.tensor([p.index for p in batch], dtype=torch.long)
    return out


def epoch_order(size: int, seed: int, epoch: int, shuffle: bool = True) -> list[int]:
    """The pair order of one epoch: a seeded permutation, the same on every resume."""
    if not shuffle:
        return list(range(size))
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(size, generator=generator).tolist()


def run_fingerprint(config: TrainConfig, loaded: LoadedModel, pair_set: PairSet) -> str:
    """A hash of everything that shapes the weights: a checkpoint from another run is refused."""
    settings = config_to_dict(config)
    for volatile in ("output_dir", "resume", "save_every", "keep_checkpoints", "merge", "progress"):
        settings.pop(volatile, None)
    return _token_digest(json.dumps(settings, sort_keys=True, default=str), loaded, pair_set)


def reference_fingerprint(config: TrainConfig, loaded: LoadedModel, pair_set: PairSet) -> str:
    """A hash of what the reference log-probs depend on: the base model, its dtype and the tokens.

    Not the loss, learning rate or steps, so a cached reference serves a whole sweep of those.
    """
    return _token_digest(f"reference:{config.dtype}", loaded, pair_set)


def _token_digest(settings: str, loaded: LoadedModel, pair_set: PairSet) -> str:
    digest = hashlib.sha256(settings.encode())
    digest.update(loaded.name.encode())
    for pair in pair_set.pairs:
        digest.update(str(pair.chosen.input_ids).encode())
        if pair.rejected is not None:
            digest.update(str(pair.rejected.input_ids).encode())
    return digest.hexdigest()


def _optimizer_step(
    group: list[dict[str, Tensor]],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    compute_loss: Callable[[dict[str, Tensor]], tuple[Tensor, dict]],
    accelerator: Accelerator,
    config: TrainConfig,
) -> dict:
    """Accumulate gradients over the micro-batches of `group`, then take one optimizer step."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for number, batch in enumerate(group):
        sync = number == len(group) - 1
        context = contextlib.nullcontext() if sync else accelerator.no_sync(model)
        with context, accelerator.autocast():
            loss, metrics = compute_loss(batch)
            accelerator.backward(loss / len(group))
        for key, value in {"loss": loss, **metrics}.items():
            sums[key] = sums.get(key, 0.0) + float(
                value.detach() if isinstance(value, Tensor) else value
            )
            counts[key] = counts.get(key, 0) + 1
    row = {key: sums[key] / counts[key] for key in sums}
    if config.max_grad_norm is not None:
        row["grad_norm"] = float(
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        )
    row["learning_rate"] = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return row


def _batch_loss(
    config: TrainConfig,
    model: nn.Module,
    reference: nn.Module | None,
    reference_cache: dict[str, Tensor] | None,
    batch: dict[str, Tensor],
    accelerator: Accelerator,
) -> tuple[Tensor, dict]:
    """The configured objective on one micro-batch (chosen rows first, then rejected)."""
    rows = len(batch["index"])
    if config.objective in ("reward", "cost"):
        scores = model(batch["input_ids"], batch["attention_mask"]).float()
        chosen, rejected = scores[:rows], scores[rows:]
        if config.objective == "reward":
            return reward_model_loss(chosen, rejected)
        _require_flags(batch, "cost model training")
        return cost_model_loss(
            cost_less_safe=rejected,
            cost_safer=chosen,
            less_safe_is_unsafe=1.0 - batch["rejected_safe"],
            safer_is_unsafe=1.0 - batch["chosen_safe"],
        )
    policy = collated_logprobs(model, batch)
    inputs = {"policy_chosen": policy.sum[:rows], "chosen_lengths": policy.num_tokens[:rows]}
    if not config.sft_only:
        inputs.update(
            policy_rejected=policy.sum[rows:],
            rejected_lengths=policy.num_tokens[rows:],
            chosen_safe=batch["chosen_safe"],
            rejected_safe=batch["rejected_safe"],
        )
        if "bfpo" in config.loss.loss_weights():
            _require_flags(batch, "BFPO")
        if reference_cache is not None:
            index = batch["index"].cpu()
            inputs["ref_chosen"] = reference_cache["chosen"][index].to(policy.sum.device)
            inputs["ref_rejected"] = reference_cache["rejected"][index].to(policy.sum.device)
        else:
            with reference_mode(accelerator.unwrap_model(model), reference) as ref:
                ref_logps = collated_logprobs(ref, batch).sum
            inputs["ref_chosen"], inputs["ref_rejected"] = ref_logps[:rows], ref_logps[rows:]
    loss, metrics = config.loss.compute(**inputs)
    names = list(config.loss.loss_weights())
    if len(names) == 1:  # one loss: log "rewards/margins", not "dpo/rewards/margins"
        prefix = names[0] + "/"
        metrics = {k[len(prefix) :]: v for k, v in metrics.items() if k != prefix + "loss"}
    return loss, metrics


def _setup_model(config: TrainConfig, loaded: LoadedModel) -> tuple[nn.Module, nn.Module | None]:
    """LoRA-wrap (or unfreeze) the LM; add a scalar head for reward/cost; make the reference."""
    lm = loaded.model
    reference = None
    if config.full_finetune:
        if config.objective == "preference" and not config.sft_only:
            reference = copy.deepcopy(lm).eval().requires_grad_(False)
        lm.requires_grad_(True)
    else:
        from peft import get_peft_model  # heavy: only with LoRA

        lm = get_peft_model(lm, config.lora_config())
    loaded.model = lm
    if config.objective in ("reward", "cost"):
        return ScalarHeadModel(lm, seed=config.seed), None
    return lm, reference


def _write_outputs(
    config: TrainConfig, model: nn.Module, loaded: LoadedModel, result: TrainResult
) -> None:
    output_dir = Path(config.output_dir)
    if isinstance(model, ScalarHeadModel):
        result.scalar_model_dir = save_scalar_model(
            model,
            loaded.tokenizer,
            output_dir / f"{config.objective}_model",
            kind=config.objective,
            base_model=config.model,
        )
    else:
        result.adapter_dir, result.merged_dir = save_policy(
            loaded, output_dir, base_model=config.model, merge=config.merge
        )
    result.plot = plot_training_curves(result.metrics, output_dir / "training_curves.png")
    write_json_atomic(
        output_dir / "train_summary.json",
        {
            "steps": result.steps,
            "pairs": result.num_pairs,
            "truncated": result.num_truncated,
            "skipped": len(result.skipped),
            "skipped_examples": result.skipped[:20],
            "final_metrics": result.metrics[-1] if result.metrics else {},
            "adapter_dir": result.adapter_dir,
            "merged_dir": result.merged_dir,
            "scalar_model_dir": result.scalar_model_dir,
        },
    )


def _mixed_precision(config: TrainConfig) -> str:
    """Autocast only for full fine-tuning (fp32 master weights); LoRA runs keep the frozen base
    in the compute dtype itself and the small adapter in fp32, which is faster on CPU."""
    if not config.full_finetune:
        return "no"
    dtype = resolve_dtype(config.dtype)
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "no")


def _lora_forward(config: TrainConfig, model: nn.Module) -> contextlib.AbstractContextManager:
    """The fused LoRA forward for the training loop (see `train.fused_lora`), unless disabled
    or the run trains the full model."""
    if not config.fused_lora or config.full_finetune:
        return contextlib.nullcontext()
    return fused_lora_forward(model)


def _groups(loader, size: int):
    group = []
    for batch in loader:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _flags(values: list[bool | None]) -> Tensor:
    return torch.tensor([UNKNOWN_FLAG if v is None else float(v) for v in values])


def _require_flags(batch: dict[str, Tensor], what: str) -> None:
    if (batch["chosen_safe"] == UNKNOWN_FLAG).any() or (
        batch["rejected_safe"] == UNKNOWN_FLAG
    ).any():
        raise DataError(
            f"{what} needs a safety label (is_safe) on both responses of every pair.",
            fix="Use data with per-response safety labels (PKU-SafeRLHF format), or label it "
            "with `safealign synth redteam`.",
        )
