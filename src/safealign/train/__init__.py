"""Alignment training: pure losses, one trainer for DPO/IPO/BFPO/SFT and reward/cost models,
Safe RLHF's online PPO-Lagrangian (`objective: safe_rlhf`, `safealign.train.safe_rlhf`), and
synthesized preference data (`safealign.train.synthesis`)."""

from safealign.train.config import TrainConfig
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
from safealign.train.outputs import load_trained
from safealign.train.pairs import PreferencePair, pairs_from_samples, read_samples
from safealign.train.results import TrainResult
from safealign.train.reward_model import ScalarHeadModel, ScalarModel, load_scalar_model
from safealign.train.safe_rlhf import SafeRLHFConfig
from safealign.train.trainer import train

__all__ = [
    "PREFERENCE_LOSSES",
    "LossConfig",
    "PreferencePair",
    "SafeRLHFConfig",
    "ScalarHeadModel",
    "ScalarModel",
    "TrainConfig",
    "TrainResult",
    "bfpo_loss",
    "bfpo_target",
    "combined_loss",
    "cost_model_loss",
    "dpo_loss",
    "ipo_loss",
    "load_scalar_model",
    "load_trained",
    "pairs_from_samples",
    "read_samples",
    "reward_model_loss",
    "sft_loss",
    "train",
]
