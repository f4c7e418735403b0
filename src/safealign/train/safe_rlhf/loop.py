"""Safe RLHF's online loop: PPO-Lagrangian with a reward and a cost model, LoRA on one base.

Per iteration: sample responses to a batch of harmful and benign prompts; score them (reward,
cost); update lambda from the moving mean episode cost; KL-shape per-token rewards and costs
against the reference (adapter off); GAE with the reward and cost critics; then `ppo_epochs`
passes of mini-batch updates of the policy adapter on the clipped objective with the advantage
(A_R - lambda A_C) / (1 + lambda), each followed by a critic update. The math lives in
`ppo_losses`; this module only moves tensors between it and the model.

Runs on one device or under `accelerate launch`: every process samples its own prompts, the
adapters' gradients are averaged across processes by hand (the two adapters take turns on one
module, which DDP's fixed parameter set cannot follow; LoRA gradients are small), and the cost
window that drives lambda is gathered from all processes, so lambda is the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from safealign.config import config_to_dict
from safealign.data.schema import Sample
from safealign.errors import ConfigError
from safealign.interrupts import stop_requests
from safealign.io import atomic_path, write_json_atomic, write_jsonl_atomic
from safealign.models import LoadedModel, load_model
from safealign.models.logprobs import (
    batch_sequence_logprobs,
    collate_pairs,
    masked_token_logprobs,
)
from safealign.train.checkpoints import (
    CHECKPOINT_PREFIX,
    _rng_state,
    _set_rng_state,
    latest_checkpoint,
    list_checkpoints,
)
from safealign.train.config import TrainConfig
from safealign.train.interrupts import agreed_stop, interrupted_run
from safealign.train.losses import sft_loss
from safealign.train.outputs import save_policy
from safealign.train.pairs import pairs_from_samples, read_samples, tokenize_pairs
from safealign.train.plots import plot_training_curves
from safealign.train.results import StepHook, TrainResult
from safealign.train.safe_rlhf.critic import (
    CRITIC_ADAPTER,
    POLICY_ADAPTER,
    ValueHeads,
    active_adapter,
    adapter_parameters,
    critic_values,
)
from safealign.train.safe_rlhf.ppo_losses import (
    combined_advantage,
    gae,
    kl_shaped_rewards,
    ppo_clipped_loss,
    token_entropy,
    token_mean,
    update_log_lambda,
    value_loss,
    whiten,
)
from safealign.train.safe_rlhf.rollout import Rollout, collect_rollout, load_prompts, prompt_batch
from safealign.train.safe_rlhf.scorers import Scorer, load_scorer

PPO_PANELS: list[tuple[str, list[str]]] = [
    ("reward", ["reward"]),
    ("cost (> 0 unsafe)", ["cost", "cost_harmful", "cost_benign", "episode_cost"]),
    ("lambda", ["lambda"]),
    ("KL to reference (nats / response)", ["kl"]),
    ("clip fraction", ["clip_fraction"]),
    ("entropy (nats / token)", ["entropy"]),
]


@dataclass
class PPOState:
    """What besides weights and optimizers a resumed run needs: iteration and multiplier."""

    iteration: int = 0
    log_lambda: float = 0.0
    episode_costs: list[float] = field(default_factory=list)
    """The last `cost_window` episode costs (all processes), oldest first."""

    @property
    def lam(self) -> float:
        return math.exp(self.log_lambda)


def train_safe_rlhf(
    config: TrainConfig,
    *,
    loaded: LoadedModel | None = None,
    prompts: Sequence[Sample] | None = None,
    reward_scorer: Scorer | None = None,
    cost_scorer: Scorer | None = None,
    on_step: StepHook | None = None,
) -> TrainResult:
    """Run PPO-Lagrangian as `config.safe_rlhf` says; `loaded` is LoRA-wrapped in place.

    `prompts` and the scorers override the config's prompt files and reward/cost models
    (tests and library users pass their own). One "step" is one PPO iteration. Ctrl-C stops
    after the current iteration, checkpoints it and raises `RunInterrupted`.
    """
    if config.full_finetune:
        raise ConfigError(
            "objective safe_rlhf trains LoRA adapters (policy and critic on one base model); "
            "set full_finetune: false."
        )
    accelerator = Accelerator()
    set_seed(config.seed)
    if accelerator.is_main_process:  # first: the resume command of an interrupt names it
        write_json_atomic(Path(config.output_dir) / "train_config.json", config_to_dict(config))
    in_memory = any(x is not None for x in (loaded, prompts, reward_scorer, cost_scorer))
    try:
        return _train_safe_rlhf(
            config, accelerator, loaded, prompts, reward_scorer, cost_scorer, on_step, in_memory
        )
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the loop started
        raise interrupted_run(config, "before the first step of this run", in_memory) from None


def _train_safe_rlhf(
    config: TrainConfig,
    accelerator: Accelerator,
    loaded: LoadedModel | None,
    prompts: Sequence[Sample] | None,
    reward_scorer: Scorer | None,
    cost_scorer: Scorer | None,
    on_step: StepHook | None,
    in_memory: bool,
) -> TrainResult:
    rl = config.safe_rlhf
    output_dir = Path(config.output_dir)
    if loaded is None:
        loaded = load_model(config.model, dtype=config.dtype, device=accelerator.device)
    prompts = list(prompts) if prompts is not None else load_prompts(rl)
    reward_scorer = reward_scorer or _scorer(rl.reward_model, "reward", config, accelerator)
    cost_scorer = cost_scorer or _scorer(rl.cost_model, "cost", config, accelerator)
    model, heads = _setup_adapters(config, loaded)
    heads.to(accelerator.device)
    policy_params = list(adapter_parameters(model, POLICY_ADAPTER).values())
    critic_params = [*adapter_parameters(model, CRITIC_ADAPTER).values(), *heads.parameters()]
    policy_optimizer = torch.optim.AdamW(
        policy_params, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    critic_optimizer = torch.optim.AdamW(critic_params, lr=rl.critic_learning_rate)
    ptx = _ptx_rows(config, loaded)

    processes = accelerator.num_processes
    iterations = config.max_steps or config.epochs * math.ceil(
        len(prompts) / (rl.rollout_batch_size * processes)
    )
    fingerprint = _fingerprint(config, loaded, prompts)
    state = PPOState(log_lambda=math.log(rl.lambda_init))
    metrics_path = output_dir / "metrics.jsonl"
    samples_path = output_dir / "rollouts.jsonl"
    history: list[dict] = []
    if config.resume and (checkpoint := latest_checkpoint(output_dir)) is not None:
        state = _load_checkpoint(
            checkpoint, model, heads, policy_optimizer, critic_optimizer, fingerprint
        )
        history = _rows_up_to(metrics_path, state.iteration)
    if accelerator.is_main_process:
        write_jsonl_atomic(metrics_path, history)
        write_jsonl_atomic(samples_path, _rows_up_to(samples_path, state.iteration))

    bar = tqdm(
        total=iterations,
        initial=state.iteration,
        desc="safe-rlhf ppo-lag",
        disable=not (config.progress and accelerator.is_local_main_process),
    )
    started = time.perf_counter()
    stopped = False
    try:
        with stop_requests("PPO iteration") as stop:
            while state.iteration < iterations:
                batch = prompt_batch(
                    prompts,
                    state.iteration,
                    rl.rollout_batch_size,
                    config.seed,
                    accelerator.process_index,
                    processes,
                )
                rollout = collect_rollout(
                    loaded,
                    batch,
                    rl,
                    reward_scorer,
                    cost_scorer,
                    seed=config.seed * 100_003
                    + state.iteration * processes
                    + accelerator.process_index,
                    max_length=config.max_length,
                    max_prompt_length=config.max_prompt_length,
                    system_prompt=config.system_prompt,
                )
                all_costs = accelerator.gather(rollout.cost.to(accelerator.device)).cpu()
                state.episode_costs = (state.episode_costs + all_costs.tolist())[-rl.cost_window :]
                episode_cost = sum(state.episode_costs) / len(state.episode_costs)
                if state.iteration >= rl.lambda_update_delay:
                    state.log_lambda = update_log_lambda(
                        state.log_lambda,
                        episode_cost,
                        rl.cost_threshold,
                        rl.lambda_lr,
                        rl.lambda_max,
                    )
                row = _ppo_iteration(
                    config,
                    model,
                    heads,
                    rollout,
                    state.lam,
                    policy_optimizer,
                    critic_optimizer,
                    policy_params,
                    critic_params,
                    ptx,
                    state.iteration,
                    accelerator,
                )
                row.update(_rollout_metrics(rollout, accelerator))
                state.iteration += 1
                row.update(
                    step=state.iteration,
                    episode_cost=episode_cost,
                    **{"lambda": state.lam},
                    seconds=time.perf_counter() - started,
                )
                history.append(row)
                # Ctrl-C is taken here, after a whole iteration: its checkpoint is written even off
                # the save_every grid, so no finished iteration is lost.
                stopped = agreed_stop(stop, accelerator) and state.iteration < iterations
                if accelerator.is_main_process:
                    with metrics_path.open("a") as handle:
                        handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                    with samples_path.open("a") as handle:
                        for sample in _rollout_samples(rollout, state.iteration):
                            handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
                    on_grid = config.save_every and state.iteration % config.save_every == 0
                    if on_grid or stopped:
                        _save_checkpoint(
                            output_dir,
                            model,
                            heads,
                            policy_optimizer,
                            critic_optimizer,
                            state,
                            fingerprint,
                            config.keep_checkpoints,
                        )
                accelerator.wait_for_everyone()
                bar.update(1)
                bar.set_postfix(cost=f"{row['cost']:.3f}", lam=f"{state.lam:.3f}")
                if on_step is not None:
                    on_step(state.iteration, row)
                if stopped:
                    break
    except KeyboardInterrupt:  # the second Ctrl-C: the iteration in progress is not saved
        stopped = True
    bar.close()
    if stopped:
        raise interrupted_run(config, f"step {state.iteration} of {iterations}", in_memory)
    result = TrainResult(
        output_dir=output_dir,
        model=loaded,
        steps=state.iteration,
        metrics=history,
        num_pairs=len(prompts),
    )
    if accelerator.is_main_process:
        _write_outputs(config, model, heads, loaded, result)
    else:
        model.delete_adapter(CRITIC_ADAPTER)
    accelerator.wait_for_everyone()
    loaded.model.eval()
    return result


def _ppo_iteration(
    config: TrainConfig,
    model: nn.Module,
    heads: ValueHeads,
    rollout: Rollout,
    lam: float,
    policy_optimizer: torch.optim.Optimizer,
    critic_optimizer: torch.optim.Optimizer,
    policy_params: list[nn.Parameter],
    critic_params: list[nn.Parameter],
    ptx: list | None,
    iteration: int,
    accelerator: Accelerator,
) -> dict:
    """Advantages from the rollout, then `ppo_epochs` passes of policy and critic updates."""
    rl = config.safe_rlhf
    device = accelerator.device
    input_ids = rollout.input_ids.to(device)
    attention_mask = rollout.attention_mask.to(device)
    response_mask = rollout.response_mask.to(device)
    mask = rollout.action_mask.to(device).float()
    rows = input_ids.shape[0]
    chunks = [
        torch.arange(start, min(start + rl.mini_batch_size, rows))
        for start in range(0, rows, rl.mini_batch_size)
    ]

    model.eval()
    old_logps, ref_logps, values_r, values_c, entropies = [], [], [], [], []
    with torch.no_grad():
        for index in chunks:
            ids, attn, resp = input_ids[index], attention_mask[index], response_mask[index]
            logits = model(input_ids=ids, attention_mask=attn).logits
            old_logps.append(masked_token_logprobs(logits, ids, resp))
            entropies.append(token_entropy(logits[:, :-1], mask[index]) * mask[index].sum())
            del logits
            with model.disable_adapter():
                ref_logits = model(input_ids=ids, attention_mask=attn).logits
                ref_logps.append(masked_token_logprobs(ref_logits, ids, resp))
                del ref_logits
            with active_adapter(model, CRITIC_ADAPTER):
                value_r, value_c = critic_values(model, heads, ids, attn)
            values_r.append(value_r.float())
            values_c.append(value_c.float())
        old_logp, ref_logp = torch.cat(old_logps), torch.cat(ref_logps)
        old_value_r, old_value_c = torch.cat(values_r), torch.cat(values_c)
        rewards, costs, kl = kl_shaped_rewards(
            rollout.reward.to(device),
            rollout.cost.to(device),
            old_logp,
            ref_logp,
            mask,
            rl.kl_coef,
            rl.score_clip,
        )
        adv_r, ret_r = gae(rewards, old_value_r, mask, rl.gamma, rl.gae_lambda)
        adv_c, ret_c = gae(costs, old_value_c, mask, rl.gamma, rl.gae_lambda)
        advantages = combined_advantage(adv_r, adv_c, lam)
        raw_advantage = float(token_mean(advantages, mask))
        if rl.whiten_advantages:
            advantages = whiten(advantages, mask)

    sums: dict[str, float] = {}
    updates = 0
    generator = torch.Generator().manual_seed(config.seed * 100_003 + iteration)
    model.train()
    for _ in range(rl.ppo_epochs):
        order = torch.randperm(rows, generator=generator)
        for start in range(0, rows, rl.mini_batch_size):
            index = order[start : start + rl.mini_batch_size].to(device)
            ids, attn, resp = input_ids[index], attention_mask[index], response_mask[index]
            logits = model(input_ids=ids, attention_mask=attn).logits
            logps = masked_token_logprobs(logits, ids, resp)
            del logits
            policy_loss, metrics = ppo_clipped_loss(
                logps, old_logp[index], advantages[index], mask[index], rl.clip_range
            )
            loss = policy_loss
            if ptx is not None:
                ptx_loss = _ptx_loss(model, ptx, iteration * 1_000 + updates, rl, device)
                loss = loss + rl.ptx_coef * ptx_loss
                metrics["ptx_loss"] = float(ptx_loss.detach())
            accelerator.backward(loss)
            metrics["policy_grad_norm"] = _step(
                policy_params, policy_optimizer, config, accelerator
            )
            with active_adapter(model, CRITIC_ADAPTER):  # open through backward()
                value_r, value_c = critic_values(model, heads, ids, attn)
                critic_loss_r = value_loss(
                    value_r.float(), old_value_r[index], ret_r[index], mask[index], rl.value_clip
                )
                critic_loss_c = value_loss(
                    value_c.float(), old_value_c[index], ret_c[index], mask[index], rl.value_clip
                )
                accelerator.backward(critic_loss_r + critic_loss_c)
                _step(critic_params, critic_optimizer, config, accelerator)
            metrics.update(
                policy_loss=float(policy_loss.detach()),
                value_loss_reward=float(critic_loss_r.detach()),
                value_loss_cost=float(critic_loss_c.detach()),
            )
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
            updates += 1
    row = {key: value / updates for key, value in sums.items()}
    tokens = mask.sum().clamp(min=1.0)
    row.update(
        kl=float((kl.sum(-1)).mean()),
        kl_per_token=float(kl.sum() / tokens),
        entropy=float(sum(entropies) / tokens),
        advantage=raw_advantage,
        value_reward=float(token_mean(old_value_r, mask)),
        value_cost=float(token_mean(old_value_c, mask)),
    )
    return {key: _mean_over_processes(value, accelerator) for key, value in row.items()}


def _step(
    params: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    accelerator: Accelerator,
) -> float:
    """Average gradients over processes, clip, step, clear. Returns the gradient norm."""
    if accelerator.num_processes > 1:
        for param in params:
            if param.grad is not None:
                param.grad = accelerator.reduce(param.grad, reduction="mean")
    with_grad = [p for p in params if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(with_grad, config.max_grad_norm or float("inf"))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


def _setup_adapters(config: TrainConfig, loaded: LoadedModel) -> tuple[nn.Module, ValueHeads]:
    """LoRA-wrap the LM with the policy adapter, add the critic adapter and the value heads."""
    from peft import get_peft_model  # PEFT is imported only by training code

    lora = config.lora_config()
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = get_peft_model(loaded.model, lora, adapter_name=POLICY_ADAPTER)
        model.add_adapter(CRITIC_ADAPTER, lora)
    # PEFT initialises LoRA B to zero, so the critic adapter starts as the base model too.
    model.set_adapter(POLICY_ADAPTER)
    loaded.model = model
    heads = ValueHeads(model.config.hidden_size, seed=config.seed)
    return model, heads


def _scorer(spec: str | None, kind: str, config: TrainConfig, accelerator: Accelerator):
    if spec is None:
        raise ConfigError(
            f"objective safe_rlhf needs safe_rlhf.{kind}_model: a `safealign train` {kind} "
            f"run (configs/train/{kind}.yaml) or a sequence-classification checkpoint."
        )
    return load_scorer(
        spec,
        kind,
        dtype=config.dtype,
        device=accelerator.device,
        batch_size=config.safe_rlhf.score_batch_size,
        max_length=config.max_length,
    )


def _ptx_rows(config: TrainConfig, loaded: LoadedModel) -> list | None:
    """Tokenized SFT rows for the optional pretraining-loss mix (None without ptx_data)."""
    rl = config.safe_rlhf
    if rl.ptx_data is None:
        return None
    pairs, _ = pairs_from_samples(read_samples(rl.ptx_data), "sft")
    if not pairs:
        raise ConfigError(
            f"safe_rlhf.ptx_data {rl.ptx_data}: no usable SFT rows (each needs a safe or "
            "unlabelled response)."
        )
    rows, _ = tokenize_pairs(
        pairs,
        loaded.tokenizer,
        max_length=config.max_length,
        max_prompt_length=config.max_prompt_length,
        system_prompt=config.system_prompt,
    )
    return rows


def _ptx_loss(model: nn.Module, rows: list, offset: int, rl, device: torch.device) -> Tensor:
    """Token-level NLL of `ptx_batch_size` SFT rows, taken in order (no RNG, exact on resume).
    Padding is masked out, so the pad id does not matter."""
    chosen = [
        rows[(offset * rl.ptx_batch_size + k) % len(rows)].chosen for k in range(rl.ptx_batch_size)
    ]
    batch = {k: v.to(device) for k, v in collate_pairs(chosen, 0).items()}
    logps = batch_sequence_logprobs(model, **batch)
    loss, _ = sft_loss(logps.sum, logps.num_tokens)
    return loss


def _rollout_metrics(rollout: Rollout, accelerator: Accelerator) -> dict:
    """Means over every process's rollouts: reward, cost (all, harmful, benign prompts)."""
    device = accelerator.device
    harmful = torch.tensor([bool(p.prompt_harmful) for p in rollout.prompts], device=device)
    lengths = rollout.action_mask.sum(-1).float().to(device)
    gathered = {
        name: accelerator.gather(value.to(device)).cpu()
        for name, value in {
            "reward": rollout.reward,
            "cost": rollout.cost,
            "harmful": harmful,
            "length": lengths,
        }.items()
    }
    cost, is_harmful = gathered["cost"], gathered["harmful"]
    row = {
        "reward": float(gathered["reward"].mean()),
        "cost": float(cost.mean()),
        "unsafe_fraction": float((cost > 0).float().mean()),
        "response_tokens": float(gathered["length"].mean()),
    }
    if bool(is_harmful.any()):
        row["cost_harmful"] = float(cost[is_harmful].mean())
    if bool((~is_harmful).any()):
        row["cost_benign"] = float(cost[~is_harmful].mean())
    return row


def _rollout_samples(rollout: Rollout, step: int) -> list[dict]:
    return [
        {
            "step": step,
            "prompt": p.prompt,
            "prompt_harmful": p.prompt_harmful,
            "response": r,
            "reward": float(rw),
            "cost": float(c),
        }
        for p, r, rw, c in zip(
            rollout.prompts, rollout.responses, rollout.reward, rollout.cost, strict=True
        )
    ]


def _mean_over_processes(value: float, accelerator: Accelerator) -> float:
    if accelerator.num_processes == 1:
        return value
    tensor = torch.tensor([value], device=accelerator.device, dtype=torch.float64)
    return float(accelerator.reduce(tensor, reduction="mean"))


def _fingerprint(config: TrainConfig, loaded: LoadedModel, prompts: Sequence[Sample]) -> str:
    """A hash of everything that shapes the weights, so a checkpoint of another run is refused."""
    settings = config_to_dict(config)
    for volatile in ("output_dir", "resume", "save_every", "keep_checkpoints", "merge", "progress"):
        settings.pop(volatile, None)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(loaded.name.encode())
    for prompt in prompts:
        digest.update(f"{prompt.prompt_harmful}:{prompt.prompt}".encode())
    return digest.hexdigest()


def _trainable(model: nn.Module, heads: ValueHeads) -> dict[str, Tensor]:
    weights = {
        name: p.detach().contiguous().cpu()
        for adapter in (POLICY_ADAPTER, CRITIC_ADAPTER)
        for name, p in adapter_parameters(model, adapter).items()
    }
    weights.update({f"value_heads.{k}": v.detach().cpu() for k, v in heads.state_dict().items()})
    return weights


def _save_checkpoint(
    output_dir: Path,
    model: nn.Module,
    heads: ValueHeads,
    policy_optimizer: torch.optim.Optimizer,
    critic_optimizer: torch.optim.Optimizer,
    state: PPOState,
    fingerprint: str,
    keep: int,
) -> Path:
    """`checkpoint-<iteration>/`, written atomically; all but the `keep` newest are dropped."""
    target = output_dir / f"{CHECKPOINT_PREFIX}{state.iteration:07d}"
    with atomic_path(target) as staged:
        staged.mkdir()
        save_file(_trainable(model, heads), str(staged / "trainable.safetensors"))
        torch.save(policy_optimizer.state_dict(), staged / "policy_optimizer.pt")
        torch.save(critic_optimizer.state_dict(), staged / "critic_optimizer.pt")
        torch.save(_rng_state(), staged / "rng.pt")
        progress = {**asdict(state), "config_fingerprint": fingerprint}
        (staged / "progress.json").write_text(json.dumps(progress, indent=2))
    for old in list_checkpoints(output_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _load_checkpoint(
    path: Path,
    model: nn.Module,
    heads: ValueHeads,
    policy_optimizer: torch.optim.Optimizer,
    critic_optimizer: torch.optim.Optimizer,
    fingerprint: str,
) -> PPOState:
    progress = json.loads((path / "progress.json").read_text())
    if progress.pop("config_fingerprint") != fingerprint:
        raise ConfigError(
            f"{path} was written by a run with different settings (model, prompts, method or "
            "optimisation). Resume with the same config, or use a new output_dir."
        )
    weights = load_file(str(path / "trainable.safetensors"))
    params = dict(model.named_parameters())
    expected = set(_trainable(model, heads))
    if set(weights) != expected:
        raise ConfigError(f"{path}: its weights do not match this run's adapters and heads.")
    with torch.no_grad():
        for name, value in weights.items():
            if name.startswith("value_heads."):
                continue
            params[name].copy_(value)
    heads.load_state_dict(
        {k[len("value_heads.") :]: v for k, v in weights.items() if k.startswith("value_heads.")}
    )
    policy_optimizer.load_state_dict(torch.load(path / "policy_optimizer.pt", weights_only=False))
    critic_optimizer.load_state_dict(torch.load(path / "critic_optimizer.pt", weights_only=False))
    _set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return PPOState(**progress)


def _rows_up_to(path: Path, step: int) -> list[dict]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["step"] <= step]


def _write_outputs(
    config: TrainConfig, model: nn.Module, heads: ValueHeads, loaded: LoadedModel, result
) -> None:
    """critic/ (adapter weights + value heads), then the policy as every run writes it."""
    output_dir = Path(config.output_dir)
    with atomic_path(output_dir / "critic") as staged:
        staged.mkdir()
        critic = {
            name: p.detach().contiguous().cpu()
            for name, p in adapter_parameters(model, CRITIC_ADAPTER).items()
        }
        critic.update({f"value_heads.{k}": v.cpu() for k, v in heads.state_dict().items()})
        save_file(critic, str(staged / "critic.safetensors"))
    model.delete_adapter(CRITIC_ADAPTER)
    model.set_adapter(POLICY_ADAPTER)
    result.adapter_dir, result.merged_dir = save_policy(
        loaded, output_dir, base_model=config.model, merge=config.merge
    )
    result.plot = plot_training_curves(
        result.metrics,
        output_dir / "training_curves.png",
        panels=PPO_PANELS,
        xlabel="PPO iteration",
    )
    last = result.metrics[-1] if result.metrics else {}
    write_json_atomic(
        output_dir / "train_summary.json",
        {
            "method": "safe_rlhf (PPO-Lagrangian, LoRA)",
            "iterations": result.steps,
            "prompts": result.num_pairs,
            "first_metrics": result.metrics[0] if result.metrics else {},
            "final_metrics": last,
            "adapter_dir": result.adapter_dir,
            "merged_dir": result.merged_dir,
        },
    )
