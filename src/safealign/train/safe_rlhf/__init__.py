"""Safe RLHF: online PPO-Lagrangian with a reward and a cost model (`objective: safe_rlhf`).

The loop is `safealign.train.safe_rlhf.loop.train_safe_rlhf` (reached through
`safealign.train.train`); the math is in `ppo_losses`. This package's `__init__` imports only
the config and the pure math, so `train.config` can import the config without a circle.
"""

from safealign.train.safe_rlhf.config import SafeRLHFConfig
from safealign.train.safe_rlhf.ppo_losses import (
    combined_advantage,
    gae,
    kl_shaped_rewards,
    ppo_clipped_loss,
    update_log_lambda,
    value_loss,
)

__all__ = [
    "SafeRLHFConfig",
    "combined_advantage",
    "gae",
    "kl_shaped_rewards",
    "ppo_clipped_loss",
    "update_log_lambda",
    "value_loss",
]
