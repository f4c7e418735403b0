"""`SafeRLHFConfig`: the PPO-Lagrangian settings of a `safealign train` run with
`objective: safe_rlhf`. Model, LoRA, learning rate, seed, steps and outputs stay in `TrainConfig`.

Defaults are safe-rlhf's PPO-Lag script (DESIGN.md 2.1) where it has one; rollout sizes are
small enough for the embedded model on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SafeRLHFConfig:
    """Reward and cost models, prompts, rollouts, PPO and the Lagrange multiplier."""

    reward_model: str | None = field(
        default=None,
        metadata={
            "help": "Reward model: a `safealign train` reward run (its reward_model/ folder or "
            "the run folder) or any sequence-classification checkpoint with one label. Higher "
            "is more helpful."
        },
    )
    cost_model: str | None = field(
        default=None,
        metadata={
            "help": "Cost model, as reward_model; cost > 0 means unsafe (objective: cost runs)."
        },
    )
    harmful_prompts: str | None = field(
        default=None,
        metadata={
            "help": "File of harmful training prompts (any format safealign.data reads). None "
            "with benign_prompts None: the demo's 40 harmful + 40 benign training prompts, "
            "disjoint from the evaluation suite. Never use evaluation sets here."
        },
    )
    benign_prompts: str | None = field(
        default=None, metadata={"help": "File of benign training prompts (e.g. Alpaca-type)."}
    )
    prompt_column_map: dict[str, str | list[str]] | None = field(
        default=None,
        metadata={"help": 'Column map for both prompt files, e.g. {"prompt": "instruction"}.'},
    )
    harmful_limit: int | None = field(
        default=None, metadata={"help": "Use at most this many harmful prompts."}
    )
    benign_limit: int | None = field(
        default=None, metadata={"help": "Use at most this many benign prompts."}
    )

    rollout_batch_size: int = field(
        default=16, metadata={"help": "Prompts sampled per PPO iteration (per process)."}
    )
    mini_batch_size: int = field(
        default=8, metadata={"help": "Rollouts per PPO gradient step (per process)."}
    )
    ppo_epochs: int = field(
        default=1, metadata={"help": "Passes of PPO updates over each iteration's rollouts."}
    )
    max_new_tokens: int = field(default=48, metadata={"help": "Response tokens at most."})
    temperature: float = field(
        default=1.0,
        metadata={"help": "Sampling temperature; 1 keeps the rollouts on-policy for PPO."},
    )
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    generation_batch_size: int = field(
        default=16, metadata={"help": "Prompts per generation forward pass."}
    )
    score_batch_size: int = field(
        default=16, metadata={"help": "Responses per reward/cost model forward pass."}
    )

    kl_coef: float = field(
        default=0.02,
        metadata={
            "help": "Per-token KL penalty against the reference (base model, adapter off); "
            "split half into reward, half into cost."
        },
    )
    clip_range: float = field(default=0.2, metadata={"help": "PPO ratio clip."})
    value_clip: float | None = field(
        default=5.0, metadata={"help": "Critic update clip around the rollout's values."}
    )
    score_clip: float | None = field(
        default=50.0, metadata={"help": "Reward and cost scores are clipped to +-this."}
    )
    gamma: float = field(default=1.0, metadata={"help": "Discount over response tokens."})
    gae_lambda: float = field(default=0.95, metadata={"help": "GAE lambda."})

    whiten_advantages: bool = field(
        default=True,
        metadata={
            "help": "Whiten each iteration's combined advantage (mean 0, std 1 over response "
            "tokens). Our critics start from fresh value heads (safe-rlhf's start as copies of "
            "the reward and cost models), so without it every token's advantage has one sign "
            "until they catch up; false follows safe-rlhf exactly."
        },
    )

    lambda_init: float = field(default=1.0, metadata={"help": "Initial Lagrange multiplier."})
    lambda_lr: float = field(
        default=0.1, metadata={"help": "Learning rate of log(lambda) (plain SGD)."}
    )
    lambda_max: float | None = field(
        default=5.0, metadata={"help": "Cap on lambda (None: no cap)."}
    )
    cost_threshold: float = field(
        default=0.0, metadata={"help": "d: lambda grows while the mean episode cost exceeds it."}
    )
    cost_window: int = field(
        default=128, metadata={"help": "Episodes in the moving mean cost that drives lambda."}
    )
    lambda_update_delay: int = field(
        default=0, metadata={"help": "PPO iterations before lambda starts to move."}
    )

    critic_learning_rate: float = field(
        default=2e-4, metadata={"help": "Learning rate of the critic adapter and value heads."}
    )
    ptx_data: str | None = field(
        default=None,
        metadata={
            "help": "Optional pretraining/SFT data mixed into the policy loss (safe responses "
            "of PKU-format pairs, or single responses)."
        },
    )
    ptx_coef: float = field(
        default=1.0, metadata={"help": "Weight of the mixed-in SFT loss (with ptx_data)."}
    )
    ptx_batch_size: int = field(default=4, metadata={"help": "SFT rows per policy step."})

    def __post_init__(self) -> None:
        positive = ("rollout_batch_size", "mini_batch_size", "ppo_epochs", "max_new_tokens")
        for name in (*positive, "generation_batch_size", "score_batch_size", "cost_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"safe_rlhf.{name} must be >= 1, got {getattr(self, name)}")
        if self.mini_batch_size > self.rollout_batch_size:
            raise ValueError(
                f"safe_rlhf.mini_batch_size ({self.mini_batch_size}) must not exceed "
                f"rollout_batch_size ({self.rollout_batch_size})."
            )
        if self.lambda_init <= 0:
            raise ValueError(f"safe_rlhf.lambda_init must be > 0, got {self.lambda_init}")
        if self.lambda_max is not None and self.lambda_max < self.lambda_init:
            raise ValueError(
                f"safe_rlhf.lambda_max ({self.lambda_max}) must be >= lambda_init "
                f"({self.lambda_init})."
            )
        if not 0.0 < self.clip_range < 1.0:
            raise ValueError(f"safe_rlhf.clip_range must lie in (0, 1), got {self.clip_range}")
        if self.temperature <= 0:
            raise ValueError(
                f"safe_rlhf.temperature must be > 0 (PPO needs sampled rollouts), "
                f"got {self.temperature}"
            )
