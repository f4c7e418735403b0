"""Policy, reference and both critics on ONE base model: two named LoRA adapters.

- policy: the LoRA adapter "default" (what `save_policy` writes and every verb loads);
- reference: the same model with adapters disabled (the base weights, no copy);
- critics: a second LoRA adapter "critic" on the same base, read by two linear value heads
  (reward value and cost value) at every token.

Why a separate critic adapter rather than value heads on the policy's hidden states: with a
shared trunk, the two value losses (whose scales differ and move with the reward and cost
models) would push the policy's own adapter, and PPO-Lag's advantage already changes scale
with lambda; safe-rlhf keeps actor and critics apart for that reason. A second adapter costs a
few MB and one extra forward/backward per mini-batch, and the base model is still loaded once.
The reward and cost critics share that adapter (their heads differ): one forward yields both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from safealign.train.reward_model import decoder_of

POLICY_ADAPTER = "default"
CRITIC_ADAPTER = "critic"


class ValueHeads(nn.Module):
    """Reward and cost value heads: one linear map each from a hidden state to a scalar."""

    def __init__(self, hidden_size: int, seed: int = 0) -> None:
        super().__init__()
        self.reward = nn.Linear(hidden_size, 1)
        self.cost = nn.Linear(hidden_size, 1)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for head in (self.reward, self.cost):
                nn.init.normal_(head.weight, std=1.0 / (hidden_size + 1) ** 0.5)
                nn.init.zeros_(head.bias)

    def forward(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        hidden = hidden.to(self.reward.weight.dtype)
        return self.reward(hidden).squeeze(-1), self.cost(hidden).squeeze(-1)


@contextlib.contextmanager
def active_adapter(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Run `model` with adapter `name` active; the previous one is active again afterwards,
    also after an exception. (PEFT marks only the active adapter trainable.)"""
    previous = model.active_adapter
    model.set_adapter(name)
    try:
        yield model
    finally:
        model.set_adapter(previous)


def critic_values(
    model: nn.Module, heads: ValueHeads, input_ids: Tensor, attention_mask: Tensor
) -> tuple[Tensor, Tensor]:
    """Reward and cost values of every state, aligned with next-token log-probs: column t is
    the value before token t + 1 is chosen. Shapes [batch, width - 1].

    Call it inside `active_adapter(model, CRITIC_ADAPTER)` and keep that context open through
    `backward()`: PEFT freezes inactive adapters, and autograd drops gradients of leaves that
    stopped requiring them.
    """
    if model.active_adapter != CRITIC_ADAPTER:
        raise RuntimeError("critic_values needs the critic adapter active (see docstring).")
    hidden = decoder_of(model)(input_ids=input_ids, attention_mask=attention_mask)
    return heads(hidden.last_hidden_state[:, :-1])


def adapter_parameters(model: nn.Module, name: str) -> dict[str, nn.Parameter]:
    """The LoRA parameters of adapter `name`, by parameter name (stable across runs)."""
    marker = f".{name}."
    found = {n: p for n, p in model.named_parameters() if "lora_" in n and marker in n}
    if not found:
        raise ValueError(f"the model has no LoRA adapter named {name!r}.")
    return found
