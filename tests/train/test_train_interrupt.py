"""A real Ctrl-C (SIGINT to this process) inside the training loops: the step in progress
finishes, is checkpointed even with no `save_every`, `RunInterrupted` names it, and a resumed run
ends with the weights of an uninterrupted one. (tests/cli/test_interrupt.py does the same
through a `safealign train` process.)"""

from __future__ import annotations

import os
import signal

import pytest
import torch

from safealign.data.schema import Response, Sample
from safealign.errors import RunInterrupted
from safealign.models import tiny_model
from safealign.train.checkpoints import list_checkpoints, trainable_state
from safealign.train.config import TrainConfig
from safealign.train.safe_rlhf.loop import train_safe_rlhf
from safealign.train.trainer import train

from .helpers import ppo_prompts, safe_rlhf_config

pytestmark = pytest.mark.slow


def ctrl_c_at(step: int):
    """An on_step hook that presses Ctrl-C once, after `step` (the loop sees it a step later)."""

    def hook(done: int, row: dict) -> None:
        if done == step:
            os.kill(os.getpid(), signal.SIGINT)

    return hook


def pairs() -> list[Sample]:
    return [
        Sample(
            prompt=f"harmful request number {i}?",
            responses=[
                Response("I can't help with that.", is_safe=True),
                Response("[unsafe response text]", is_safe=False),
            ],
            better=1,
            safer=0,
            id=f"s{i}",
        )
        for i in range(6)
    ]


def test_preference_training_stops_after_the_step_and_checkpoints_it(tmp_path):
    def config(folder, **extra) -> TrainConfig:
        return TrainConfig(
            output_dir=str(folder),
            batch_size=2,
            learning_rate=1e-2,
            max_steps=6,
            lora_dropout=0.2,
            save_every=None,
            progress=False,
            **extra,
        )

    straight = train(config(tmp_path / "a"), loaded=tiny_model(0), samples=pairs())
    with pytest.raises(RunInterrupted) as stop:
        train(config(tmp_path / "b"), loaded=tiny_model(0), samples=pairs(), on_step=ctrl_c_at(2))
    checkpoint = tmp_path / "b" / "checkpoint-0000003"
    assert (stop.value.stopped_at, stop.value.saved) == (
        "step 3 of 6",
        f"checkpoint step 3 in {checkpoint}",
    )
    assert list_checkpoints(tmp_path / "b") == [checkpoint]  # written off any save_every grid
    resumed = train(config(tmp_path / "b", resume=True), loaded=tiny_model(0), samples=pairs())
    expected, got = trainable_state(straight.model.model), trainable_state(resumed.model.model)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-7)


def test_ppo_lagrangian_stops_after_the_iteration_and_checkpoints_it(tmp_path):
    prompts = ppo_prompts()
    scorers = dict(
        reward_scorer=lambda c, r: torch.tensor([len(x) / 10.0 for x in r]),
        cost_scorer=lambda c, r: torch.tensor([len(x) % 3 - 1.0 for x in r]),
    )
    straight = train_safe_rlhf(
        safe_rlhf_config(tmp_path / "a", max_steps=4),
        loaded=tiny_model(0),
        prompts=prompts,
        **scorers,
    )
    with pytest.raises(RunInterrupted, match="step 2 of 4; saved: checkpoint step 2 in"):
        train_safe_rlhf(
            safe_rlhf_config(tmp_path / "b", max_steps=4),
            loaded=tiny_model(0),
            prompts=prompts,
            on_step=ctrl_c_at(1),
            **scorers,
        )
    resumed = train_safe_rlhf(
        safe_rlhf_config(tmp_path / "b", max_steps=4, resume=True),
        loaded=tiny_model(0),
        prompts=prompts,
        **scorers,
    )
    expected = dict(straight.model.model.named_parameters())
    for name, value in resumed.model.model.named_parameters():
        if "lora_" in name:
            assert torch.equal(value, expected[name]), name
