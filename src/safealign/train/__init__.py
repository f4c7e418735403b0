"""Alignment training: losses on per-sequence log-probs, which the trainer builds on."""

from safealign.train.losses import (
    PREFERENCE_LOSSES,
    LossConfig,
    bfpo_loss,
    bfpo_target,
    combined_loss,
    cost_model_loss,
    dpo_loss,
    ipo_loss,
    reward_model_loss,
    sft_loss,
)

__all__ = [
    "PREFERENCE_LOSSES",
    "LossConfig",
    "bfpo_loss",
    "bfpo_target",
    "combined_loss",
    "cost_model_loss",
    "dpo_loss",
    "ipo_loss",
    "reward_model_loss",
    "sft_loss",
]
