"""Preference, reward and cost losses as pure functions of per-sequence scores.

Every loss takes tensors of shape [batch] and returns `(loss, metrics)`: a scalar to call
`backward()` on and a dict of detached scalars to log. None of them knows about models, batches on
disk or accelerate, so each is tested on CPU against the formula worked out by hand.

Log-prob conventions (what the caller passes as `policy_chosen` and friends):
- `dpo_loss`: the SUM of the response tokens' log-probs, as TRL's DPOTrainer uses.
- `ipo_loss`, `bfpo_loss`: sums together with the response token counts (`chosen_lengths`,
  `rejected_lengths`), and the loss divides each log-ratio by its count (TRL's IPO convention);
  or, without counts, whatever per-sequence log-probs the caller chose (the official BFPO code
  passes sums; `LossConfig(per_token=False)` drops the counts). The margin target 1/(2 beta) is
  in the same units as the log-probs.
- `sft_loss`: sums with `chosen_lengths` (token-level mean NLL over the batch, as TRL's "sft");
  without counts, per-sequence MEAN log-probs (mean over sequences of the per-token NLL).
So a trainer passes sums plus token counts to all of them, and each loss reads what it needs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

Metrics = dict[str, Tensor | float]
LossFn = Callable[..., tuple[Tensor, Metrics]]


def dpo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Metrics]:
    """Sigmoid DPO, with conservative label smoothing (cDPO) when `label_smoothing` > 0.

    With h = (pi_c - ref_c) - (pi_r - ref_r) and eps = `label_smoothing`:
    loss = -(1 - eps) log s(beta h) - eps log s(-beta h), averaged over the batch. eps is the
    assumed probability that a pair's label is flipped; eps = 0 is plain DPO.
    """
    _check_batch(
        policy_chosen=policy_chosen,
        policy_rejected=policy_rejected,
        ref_chosen=ref_chosen,
        ref_rejected=ref_rejected,
    )
    if not 0.0 <= label_smoothing <= 0.5:
        raise ValueError(f"label_smoothing must lie in [0, 0.5], got {label_smoothing}.")
    chosen_logratios = policy_chosen - ref_chosen
    rejected_logratios = policy_rejected - ref_rejected
    margin = beta * (chosen_logratios - rejected_logratios)
    eps = label_smoothing
    losses = -(1.0 - eps) * F.logsigmoid(margin) - eps * F.logsigmoid(-margin)
    return losses.mean(), _reward_metrics(beta, chosen_logratios, rejected_logratios)


def ipo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    beta: float = 0.1,
    chosen_lengths: Tensor | None = None,
    rejected_lengths: Tensor | None = None,
) -> tuple[Tensor, Metrics]:
    """IPO: squared distance of the log-ratio margin h to 1/(2 beta) (Azar et al., eq. 17).

    Given token counts, each log-ratio is divided by its response's count first, which is what
    TRL does for IPO (so pass summed log-probs with the counts). The reward metrics use the
    log-ratios as passed, before that division, again like TRL.
    """
    h, chosen_logratios, rejected_logratios = _normalized_margin(
        policy_chosen, policy_rejected, ref_chosen, ref_rejected, chosen_lengths, rejected_lengths
    )
    losses = (h - 1.0 / (2.0 * beta)).pow(2)
    return losses.mean(), _reward_metrics(beta, chosen_logratios, rejected_logratios)


def bfpo_target(
    chosen_safe: Tensor,
    rejected_safe: Tensor,
    b1: float = 3.0,
    alpha: float = 0.5,
    tau: float = 0.01,
) -> Tensor:
    """BFPO's labeling function: the margin each pair should reach, from its two safety flags.

    (b1 b3 I(chosen) - b3 I(rejected) - alpha) / tau with b3 = 1/(b1 - 1). With the paper's
    b1 = 3, alpha = 1/2 the targets are, times 1/tau: both safe +0.5 (IPO's target), only the
    more helpful one safe +1, only the less helpful one safe -1, both unsafe -0.5. That encodes
    helpful-safe > unhelpful-safe > unhelpful-unsafe > helpful-unsafe.
    """
    if b1 == 1.0:
        raise ValueError("bfpo b1 must differ from 1 (b3 = 1/(b1 - 1)); the paper uses b1 = 3.")
    _check_flags(chosen_safe=chosen_safe, rejected_safe=rejected_safe)
    b3 = 1.0 / (b1 - 1.0)
    return (b1 * b3 * chosen_safe.float() - b3 * rejected_safe.float() - alpha) / tau


def bfpo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    chosen_safe: Tensor,
    rejected_safe: Tensor,
    beta: float = 0.01,
    b1: float = 3.0,
    alpha: float = 0.5,
    chosen_lengths: Tensor | None = None,
    rejected_lengths: Tensor | None = None,
) -> tuple[Tensor, Metrics]:
    """BFPO (arXiv 2408.15313): squared distance of h to the safety-shifted `bfpo_target`.

    Pairs are ordered by HELPFULNESS: "chosen" is the more helpful response, whatever its safety;
    `chosen_safe` / `rejected_safe` are 0/1 flags. `beta` is the paper's tau (0.01 in its recipe).
    With both responses safe this is exactly `ipo_loss` with the same beta and lengths. The
    official code passes summed log-probs and no lengths; pass lengths for TRL-IPO-style units.
    Extra metrics: the mean implicit reward of safe and of unsafe chosen responses (each key only
    when the batch holds such a response).
    """
    h, chosen_logratios, rejected_logratios = _normalized_margin(
        policy_chosen, policy_rejected, ref_chosen, ref_rejected, chosen_lengths, rejected_lengths
    )
    _check_batch(policy_chosen=policy_chosen, chosen_safe=chosen_safe, rejected_safe=rejected_safe)
    target = bfpo_target(chosen_safe, rejected_safe, b1=b1, alpha=alpha, tau=beta).to(h)
    losses = (h - target).pow(2)
    metrics = _reward_metrics(beta, chosen_logratios, rejected_logratios)
    chosen_rewards = beta * chosen_logratios.detach()
    safe = chosen_safe.bool()
    if safe.any():
        metrics["rewards/chosen_safe"] = chosen_rewards[safe].mean()
    if (~safe).any():
        metrics["rewards/chosen_unsafe"] = chosen_rewards[~safe].mean()
    return losses.mean(), metrics


def sft_loss(policy_chosen: Tensor, chosen_lengths: Tensor | None = None) -> tuple[Tensor, Metrics]:
    """Negative log-likelihood of the chosen responses, per token.

    With `chosen_lengths`, `policy_chosen` holds summed log-probs and the loss is the token-level
    mean over the whole batch, sum(-logp) / sum(lengths) (TRL's "sft" loss type), so long
    responses weigh more. Without, `policy_chosen` holds per-sequence mean log-probs and every
    response weighs the same.
    """
    _check_batch(policy_chosen=policy_chosen)
    if chosen_lengths is None:
        loss = -policy_chosen.mean()
    else:
        _check_batch(policy_chosen=policy_chosen, chosen_lengths=chosen_lengths)
        loss = -policy_chosen.sum() / chosen_lengths.sum().clamp(min=1).to(policy_chosen)
    return loss, {"nll": loss.detach()}


def reward_model_loss(reward_chosen: Tensor, reward_rejected: Tensor) -> tuple[Tensor, Metrics]:
    """Bradley-Terry reward model loss: -log s(R(chosen) - R(rejected)), chosen = more helpful."""
    _check_batch(reward_chosen=reward_chosen, reward_rejected=reward_rejected)
    margin = reward_chosen - reward_rejected
    loss = -F.logsigmoid(margin).mean()
    margin = margin.detach()
    return loss, {
        "accuracy": (margin > 0).float().mean(),
        "reward/chosen": reward_chosen.detach().mean(),
        "reward/rejected": reward_rejected.detach().mean(),
        "reward/margin": margin.mean(),
    }


def cost_model_loss(
    cost_less_safe: Tensor,
    cost_safer: Tensor,
    less_safe_is_unsafe: Tensor,
    safer_is_unsafe: Tensor,
) -> tuple[Tensor, Metrics]:
    """Safe RLHF cost model loss: rank the pair, and put each cost's sign on its safety label.

    -[log s(C(y_h) - C(y_s)) + log s(s(y_h) C(y_h)) + log s(s(y_s) C(y_s))] with y_h the less safe
    and y_s the safer response, s(y) = +1 if y is unsafe else -1. So a cost above 0 means unsafe,
    which is what lets the Lagrangian budget d = 0 mean "no unsafe answers".
    """
    _check_batch(
        cost_less_safe=cost_less_safe,
        cost_safer=cost_safer,
        less_safe_is_unsafe=less_safe_is_unsafe,
        safer_is_unsafe=safer_is_unsafe,
    )
    _check_flags(less_safe_is_unsafe=less_safe_is_unsafe, safer_is_unsafe=safer_is_unsafe)
    sign_less_safe = 2.0 * less_safe_is_unsafe.to(cost_less_safe) - 1.0
    sign_safer = 2.0 * safer_is_unsafe.to(cost_safer) - 1.0
    losses = (
        -F.logsigmoid(cost_less_safe - cost_safer)
        - F.logsigmoid(sign_less_safe * cost_less_safe)
        - F.logsigmoid(sign_safer * cost_safer)
    )
    less_safe, safer = cost_less_safe.detach(), cost_safer.detach()
    sign_correct = torch.cat(
        [(less_safe > 0) == less_safe_is_unsafe.bool(), (safer > 0) == safer_is_unsafe.bool()]
    )
    return losses.mean(), {
        "accuracy": (less_safe > safer).float().mean(),
        "sign_accuracy": sign_correct.float().mean(),
        "cost/less_safe": less_safe.mean(),
        "cost/safer": safer.mean(),
    }


PREFERENCE_LOSSES: dict[str, LossFn] = {
    "dpo": dpo_loss,
    "ipo": ipo_loss,
    "bfpo": bfpo_loss,
    "sft": sft_loss,
}
"""Preference-training losses by the name a config uses; `combined_loss` mixes them."""


def combined_loss(
    weights: dict[str, float],
    params: dict[str, dict] | None = None,
    **inputs: Tensor,
) -> tuple[Tensor, Metrics]:
    """Weighted sum of named preference losses, e.g. {"dpo": 1.0, "sft": 0.1} (DPO + NLL).

    `params` holds each loss's hyperparameters by name ({"dpo": {"beta": 0.1}}); `inputs` holds
    every tensor any of them may need (log-probs, lengths, safety flags), and each loss receives
    the ones its signature names. Metrics are prefixed by the loss name ("dpo/rewards/chosen"),
    with each unweighted loss under "<name>/loss". Zero-weight losses are skipped.
    """
    params = params or {}
    unknown = sorted(set(weights) - set(PREFERENCE_LOSSES)) + sorted(set(params) - set(weights))
    if unknown:
        raise ValueError(
            f"unknown or unweighted loss name(s) {', '.join(unknown)}; "
            f"known losses: {', '.join(PREFERENCE_LOSSES)}, weighted here: {', '.join(weights)}."
        )
    total: Tensor | None = None
    metrics: Metrics = {}
    for name, weight in weights.items():
        if weight < 0 or not math.isfinite(weight):
            raise ValueError(f"loss weight for {name!r} must be finite and >= 0, got {weight}.")
        if weight == 0:
            continue
        loss, loss_metrics = _call_with_inputs(name, PREFERENCE_LOSSES[name], params, inputs)
        total = weight * loss if total is None else total + weight * loss
        metrics[f"{name}/loss"] = loss.detach()
        metrics.update({f"{name}/{key}": value for key, value in loss_metrics.items()})
    if total is None:
        raise ValueError("every loss weight is 0; give at least one loss a positive weight.")
    return total, metrics


@dataclass
class LossConfig:
    """Which preference loss(es) to train with, and their hyperparameters."""

    name: str = "dpo"
    """One of PREFERENCE_LOSSES ("dpo", "ipo", "bfpo", "sft"); ignored when `weights` is set."""
    weights: dict[str, float] | None = None
    """Several losses mixed by weight, e.g. {"bfpo": 1.0, "sft": 0.1}; overrides `name`."""
    beta: float = 0.1
    """KL strength: DPO's beta, IPO's tau (target 1/(2 beta)), BFPO's tau (paper: 0.01)."""
    label_smoothing: float = 0.0
    """cDPO: assumed probability that a pair's preference label is flipped, in [0, 0.5]."""
    bfpo_b1: float = 3.0
    """BFPO's B1, the weight of the more helpful response's safety; B3 = 1/(B1 - 1)."""
    bfpo_alpha: float = 0.5
    """BFPO's alpha, the shift that makes the both-safe target equal IPO's 0.5/tau."""
    per_token: bool = True
    """IPO and BFPO compare log-ratios per response token (TRL's IPO convention; the embedded
    BFPO runs use beta 2, since 0.5 set targets a short LoRA run never reached). False compares
    summed log-ratios, as the official BFPO code does: its tau of 0.01 assumes sums, and per
    token it would set unreachable 50-100 nat targets."""

    def __post_init__(self) -> None:
        names = list(self.loss_weights())
        unknown = [n for n in names if n not in PREFERENCE_LOSSES]
        if unknown:
            raise ValueError(
                f"unknown loss {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(PREFERENCE_LOSSES)}."
            )
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0, got {self.beta}.")
        if not 0.0 <= self.label_smoothing <= 0.5:
            raise ValueError(f"label_smoothing must lie in [0, 0.5], got {self.label_smoothing}.")
        if self.bfpo_b1 <= 1.0:
            raise ValueError(f"bfpo_b1 must be > 1 (B3 = 1/(B1 - 1)), got {self.bfpo_b1}.")

    def loss_weights(self) -> dict[str, float]:
        """The losses to combine and their weights."""
        return dict(self.weights) if self.weights else {self.name: 1.0}

    def loss_params(self) -> dict[str, dict]:
        """Each used loss's keyword hyperparameters, as `combined_loss` takes them."""
        every = {
            "dpo": {"beta": self.beta, "label_smoothing": self.label_smoothing},
            "ipo": {"beta": self.beta},
            "bfpo": {"beta": self.beta, "b1": self.bfpo_b1, "alpha": self.bfpo_alpha},
            "sft": {},
        }
        if not self.per_token:  # no token counts: ipo/bfpo then use the summed log-probs
            for name in ("ipo", "bfpo"):
                every[name] |= {"chosen_lengths": None, "rejected_lengths": None}
        return {name: every[name] for name in self.loss_weights()}

    def compute(self, **inputs: Tensor) -> tuple[Tensor, Metrics]:
        """The configured loss on one batch's tensors (see `combined_loss` for `inputs`)."""
        return combined_loss(self.loss_weights(), self.loss_params(), **inputs)


def _normalized_margin(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    chosen_lengths: Tensor | None,
    rejected_lengths: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """h with each log-ratio divided by its token count when counts are given; raw log-ratios."""
    _check_batch(
        policy_chosen=policy_chosen,
        policy_rejected=policy_rejected,
        ref_chosen=ref_chosen,
        ref_rejected=ref_rejected,
    )
    chosen_logratios = policy_chosen - ref_chosen
    rejected_logratios = policy_rejected - ref_rejected
    if (chosen_lengths is None) != (rejected_lengths is None):
        raise ValueError("pass both chosen_lengths and rejected_lengths, or neither.")
    if chosen_lengths is None or rejected_lengths is None:
        return chosen_logratios - rejected_logratios, chosen_logratios, rejected_logratios
    _check_batch(
        policy_chosen=policy_chosen,
        chosen_lengths=chosen_lengths,
        rejected_lengths=rejected_lengths,
    )
    chosen_per_token = chosen_logratios / chosen_lengths.clamp(min=1).to(chosen_logratios)
    rejected_per_token = rejected_logratios / rejected_lengths.clamp(min=1).to(rejected_logratios)
    return chosen_per_token - rejected_per_token, chosen_logratios, rejected_logratios


def _reward_metrics(beta: float, chosen_logratios: Tensor, rejected_logratios: Tensor) -> Metrics:
    """DPO's implicit rewards beta * log(pi / pi_ref), named as TRL logs them."""
    chosen = beta * chosen_logratios.detach()
    rejected = beta * rejected_logratios.detach()
    return {
        "rewards/chosen": chosen.mean(),
        "rewards/rejected": rejected.mean(),
        "rewards/margins": (chosen - rejected).mean(),
        "rewards/accuracies": (chosen > rejected).float().mean(),
    }


def _call_with_inputs(
    name: str, fn: LossFn, params: dict[str, dict], inputs: dict[str, Tensor]
) -> tuple[Tensor, Metrics]:
    """Call `fn` with the inputs its signature names, plus its hyperparameters from `params`."""
    signature = inspect.signature(fn).parameters
    loss_params = params.get(name, {})
    bad = sorted(set(loss_params) - set(signature))
    if bad:
        raise ValueError(
            f"loss {name!r} has no parameter(s) {', '.join(bad)}; it takes {', '.join(signature)}."
        )
    kwargs = {key: value for key, value in inputs.items() if key in signature}
    missing = [
        key
        for key, parameter in signature.items()
        if parameter.default is inspect.Parameter.empty and key not in kwargs
    ]
    if missing:
        raise ValueError(
            f"loss {name!r} needs input(s) {', '.join(missing)}; "
            f"got {', '.join(sorted(inputs)) or 'none'}."
        )
    return fn(**(kwargs | loss_params))  # a hyperparameter may override an input (per_token)


def _check_batch(**tensors: Tensor) -> None:
    """All inputs must be 1-D with one entry per pair: catch [batch, seq] or swapped tensors."""
    sizes = {}
    for key, tensor in tensors.items():
        if not isinstance(tensor, Tensor) or tensor.dim() != 1:
            shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
            raise ValueError(
                f"{key} must be a 1-D tensor with one value per sequence, got {shape}. "
                "Reduce per-token log-probs over the response tokens first."
            )
        sizes[key] = tensor.shape[0]
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{key}={size}" for key, size in sizes.items())
        raise ValueError(f"inputs must share one batch size, got {listed}.")


def _check_flags(**flags: Tensor) -> None:
    """Safety flags must be 0/1 (or bool); anything else is a labeling bug upstream."""
    for key, flag in flags.items():
        if flag.dtype != torch.bool and not torch.all((flag == 0) | (flag == 1)):
            bad = flag[(flag != 0) & (flag != 1)].unique().tolist()[:5]
            raise ValueError(f"{key} must hold only 0/1 (or bool) values, got {bad}.")
