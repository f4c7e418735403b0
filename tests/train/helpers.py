"""What the training tests share: a small Safe RLHF config for the tiny model and its prompts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from safealign.data.schema import Response, Sample
from safealign.train.config import TrainConfig


def safe_rlhf_config(output_dir: Path, **overrides) -> TrainConfig:
    """PPO-Lagrangian on the tiny model in a few seconds: 3 iterations of 4 rollouts, 6 new
    tokens, LoRA r 4; `overrides` replace top-level TrainConfig fields."""
    values = dict(
        objective="safe_rlhf",
        output_dir=str(output_dir),
        learning_rate=1e-2,
        max_steps=3,
        max_length=64,
        max_prompt_length=32,
        progress=False,
        save_every=None,
        lora_r=4,
        lora_alpha=8,
        safe_rlhf={
            "rollout_batch_size": 4,
            "mini_batch_size": 2,
            "max_new_tokens": 6,
            "critic_learning_rate": 1e-2,
            "generation_batch_size": 4,
        },
    )
    values.update(overrides)
    return TrainConfig(**values)


def ppo_prompts(n: int = 6) -> list[Sample]:
    """Alternating harmful and benign prompts (the loop mixes both)."""
    return [
        Sample(prompt=f"request number {i}?", prompt_harmful=i % 2 == 0, id=f"p{i}")
        for i in range(n)
    ]


def refusal_pairs(prompts: Sequence[str], refusal: str = "No.") -> list[Sample]:
    """One preference pair per prompt: a safe refusal (safer) against a placeholder unsafe answer
    (more helpful), the smallest data every preference objective trains on."""
    return [
        Sample(
            prompt,
            responses=[
                Response(refusal, is_safe=True),
                Response("[unsafe response text]", is_safe=False),
            ],
            better=1,
            safer=0,
        )
        for prompt in prompts
    ]
