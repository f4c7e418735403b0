"""The math of PPO-Lagrangian (Safe RLHF) as pure functions of tensors.

Shapes: `[batch, tokens]` for per-token quantities, with `mask` 1 on response tokens (one
contiguous run per row) and 0 on prompt and padding; `[batch]` for per-sequence scores. Nothing
here knows about models, rollouts or accelerate, so each function is checked by hand on fixed
numbers (tests/train/test_ppo_losses.py). Conventions follow PKU-Alignment's safe-rlhf PPO-Lag
trainer (DESIGN.md 2.1): cost > 0 means unsafe; the KL penalty is split half into the reward
and half into the cost, so that after `combined_advantage` the policy sees a KL coefficient of
kl_coef / 2 whatever lambda is.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

Metrics = dict[str, float]


def kl_shaped_rewards(
    reward: Tensor,
    cost: Tensor,
    logprobs: Tensor,
    ref_logprobs: Tensor,
    mask: Tensor,
    kl_coef: float,
    score_clip: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-token rewards and costs: a KL penalty on every response token, the score at the last.

    With k_t = kl_coef * (log pi(y_t) - log pi_ref(y_t)) (the sampled-token KL estimate):
    reward_t = -k_t / 2 (+ R at the last token), cost_t = +k_t / 2 (+ C at the last token).
    R and C are clipped to [-score_clip, score_clip] first when given.
    Returns (rewards, costs, kl) with kl = log pi - log pi_ref on response tokens (0 elsewhere).
    """
    mask = mask.to(logprobs.dtype)
    kl = (logprobs - ref_logprobs) * mask
    penalty = kl_coef * kl
    if score_clip is not None:
        reward = reward.clamp(-score_clip, score_clip)
        cost = cost.clamp(-score_clip, score_clip)
    last = last_token_index(mask)
    rows = torch.arange(mask.shape[0], device=mask.device)
    rewards = -0.5 * penalty
    costs = 0.5 * penalty
    rewards[rows, last] += reward.to(rewards.dtype)
    costs[rows, last] += cost.to(costs.dtype)
    return rewards * mask, costs * mask, kl


def gae(
    rewards: Tensor, values: Tensor, mask: Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over each row's response tokens.

    delta_t = r_t + gamma V_{t+1} - V_t with V = 0 after the last response token;
    A_t = delta_t + gamma lam A_{t+1}. Returns (advantages, returns = A + V), both zero
    outside the mask. Rewards and values outside the mask are ignored.
    """
    mask = mask.to(values.dtype)
    rewards = rewards * mask
    values = values * mask
    advantages = torch.zeros_like(values)
    running = torch.zeros_like(values[:, 0])
    next_value = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        # Before the response (prompt columns) the recursion would carry on; those columns
        # are masked out below and never reach a loss.
        advantages[:, t] = running
        next_value = values[:, t]
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def combined_advantage(reward_advantages: Tensor, cost_advantages: Tensor, lam: float) -> Tensor:
    """(A_R - lambda A_C) / (1 + lambda): the Lagrangian's advantage, rescaled so its size
    does not grow with lambda (safe-rlhf's normalisation)."""
    return (reward_advantages - lam * cost_advantages) / (1.0 + lam)


def whiten(values: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """Shift and scale the masked entries to mean 0 and standard deviation 1 (population std
    over all masked tokens of the batch); 0 outside the mask.

    PPO's advantage needs a baseline near the mean return. safe-rlhf's critics start as copies
    of its reward and cost models, so theirs does; ours start from fresh value heads, whose
    output is off by the mean score for many updates, and every sampled token would then get an
    advantage of one sign. Whitening the batch's advantages removes that offset.
    """
    mask = mask.to(values.dtype)
    count = mask.sum().clamp(min=1.0)
    mean = (values * mask).sum() / count
    var = (((values - mean) * mask) ** 2).sum() / count
    return (values - mean) * torch.rsqrt(var + eps) * mask


def ppo_clipped_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, clip: float = 0.2
) -> tuple[Tensor, Metrics]:
    """PPO's clipped surrogate, averaged over each row's response tokens, then over rows.

    loss_t = max(-A_t r_t, -A_t clip(r_t, 1 - clip, 1 + clip)), r_t = exp(log pi - log pi_old).
    Metrics: clip_fraction (share of tokens where the clipped branch is the larger),
    approx_kl (mean of (r - 1) - log r, an estimate of KL(pi_old || pi)) and ratio.
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        metrics = {
            "clip_fraction": float(token_mean((clipped > unclipped).to(ratio.dtype), mask)),
            "approx_kl": float(token_mean((ratio - 1.0) - log_ratio, mask)),
            "ratio": float(token_mean(ratio, mask)),
        }
    return loss, metrics


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, clip: float | None = 5.0
) -> Tensor:
    """Clipped critic loss: 0.5 max((V - G)^2, (V_clip - G)^2), V_clip = V_old + clip(V - V_old).

    Clipping keeps one noisy batch from moving the critic far (safe-rlhf clips at 5).
    """
    squared = (values - returns) ** 2
    if clip is not None:
        clipped = old_values + (values - old_values).clamp(-clip, clip)
        squared = torch.maximum(squared, (clipped - returns) ** 2)
    return 0.5 * masked_mean(squared, mask)


def update_log_lambda(
    log_lambda: float,
    mean_episode_cost: float,
    threshold: float = 0.0,
    lr: float = 0.1,
    lambda_max: float | None = 5.0,
) -> float:
    """One gradient step of the Lagrange multiplier, as safe-rlhf takes it.

    The multiplier's loss is -(J_C - d) exp(log_lambda); one SGD step with rate `lr` gives
    log_lambda + lr (J_C - d) exp(log_lambda): lambda grows while the mean episode cost J_C is
    above the threshold d and shrinks below it. The result is capped at log(lambda_max).
    """
    if lambda_max is not None and lambda_max <= 0:
        raise ValueError(f"lambda_max must be > 0 or None, got {lambda_max}.")
    updated = log_lambda + lr * (mean_episode_cost - threshold) * math.exp(log_lambda)
    if lambda_max is not None:
        updated = min(updated, math.log(lambda_max))
    return updated


def token_entropy(logits: Tensor, mask: Tensor) -> Tensor:
    """Mean entropy (nats) of the next-token distributions over the masked positions."""
    logps = torch.log_softmax(logits.float(), dim=-1)
    entropy = -(logps.exp() * logps).sum(-1)
    return token_mean(entropy, mask)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over each row's masked tokens, then over rows (every response weighs the same)."""
    mask = mask.to(values.dtype)
    per_row = (values * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return per_row.mean()


def token_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over all masked tokens of the batch (for metrics)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def last_token_index(mask: Tensor) -> Tensor:
    """Column of each row's last masked token (rows need at least one)."""
    if bool((mask.sum(-1) == 0).any()):
        raise ValueError("every row needs at least one response token.")
    columns = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), columns, torch.full_like(columns, -1)).max(-1).values
