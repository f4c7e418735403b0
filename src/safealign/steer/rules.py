"""How a steering vector changes a hidden state: pure functions on tensors, named in `RULES`.

Each rule maps hidden states `h` (..., hidden) and one layer's vector `v` (hidden) to the
steered states. Negation is a negative `alpha`, nothing else: no rule renormalises the vector
or flips its sign behind the user's back.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

SteeringRule = Callable[[Tensor, Tensor, float], Tensor]

NORM_EPS = 1e-12


def icv_rule(hidden: Tensor, vector: Tensor, alpha: float) -> Tensor:
    """Safety Arithmetic's in-context-vector rule: add alpha * v, then rescale every position
    back to its original norm, so steering turns the state without inflating it (the failure
    that makes plain addition degenerate at higher strengths)."""
    shifted = hidden + alpha * vector
    scale = hidden.norm(dim=-1, keepdim=True) / shifted.norm(dim=-1, keepdim=True).clamp_min(
        NORM_EPS
    )
    return shifted * scale


def add_rule(hidden: Tensor, vector: Tensor, alpha: float) -> Tensor:
    """Plain activation addition: h + alpha * v."""
    return hidden + alpha * vector


RULES: dict[str, SteeringRule] = {"icv": icv_rule, "add": add_rule}


def get_rule(name: str) -> SteeringRule:
    if name not in RULES:
        raise ValueError(f"unknown steering rule {name!r}; choose one of {', '.join(RULES)}")
    return RULES[name]


def steer_positions(
    hidden: Tensor, vector: Tensor, alpha: float, rule: SteeringRule, mask: Tensor | None
) -> Tensor:
    """Apply `rule` in float32 where `mask` (batch, seq) is true; other positions (padding)
    pass through bit for bit. The result has the input's dtype."""
    steered = rule(hidden.float(), vector.to(hidden.device, torch.float32), alpha).to(hidden.dtype)
    # (a no-op when the vector is already there: Steering moves it once at attach time)
    if mask is None:
        return steered
    return torch.where(mask.to(hidden.device, torch.bool).unsqueeze(-1), steered, hidden)
