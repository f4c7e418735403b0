"""Reward and cost models: a scalar head read at the last real token; trained, saved, reloaded."""

from __future__ import annotations

import pytest
import torch

from safealign.models import tiny_model
from safealign.train.config import TrainConfig
from safealign.train.reward_model import ScalarHeadModel, ScalarModel, load_scalar_model
from safealign.train.trainer import train

from .helpers import refusal_pairs

pytestmark = pytest.mark.slow


def test_score_is_read_at_the_last_real_token_whatever_the_padding():
    loaded = tiny_model(0)
    module = ScalarHeadModel(loaded.model).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    padded = torch.tensor([[5, 6, 7, 8, 0, 0]])
    with torch.no_grad():
        alone = module(ids, torch.ones_like(ids))
        with_padding = module(padded, torch.tensor([[1, 1, 1, 1, 0, 0]]))
        hidden = loaded.model.model(input_ids=ids).last_hidden_state[0, -1]
        by_hand = hidden @ module.score.weight[0] + module.score.bias[0]
    torch.testing.assert_close(with_padding, alone)
    torch.testing.assert_close(alone[0], by_hand)


def test_cost_model_learns_the_sign_and_reloads(tmp_path):
    samples = refusal_pairs([f"request {i}" for i in range(4)], refusal="No, I won't.")
    config = TrainConfig(
        objective="cost",
        output_dir=str(tmp_path / "cost"),
        max_steps=12,
        batch_size=4,
        gradient_accumulation_steps=1,
        learning_rate=2e-2,
        warmup_ratio=0.0,
        save_every=None,
        progress=False,
    )
    loaded = tiny_model(0)
    result = train(config, loaded=loaded, samples=samples)
    assert result.metrics[-1]["loss"] < result.metrics[0]["loss"]
    assert result.metrics[-1]["sign_accuracy"] == 1.0  # cost > 0 exactly on the unsafe answers
    reloaded: ScalarModel
    # The saved base spec is "embedded"; reload onto the same tiny base instead.
    from peft import PeftModel
    from safetensors.torch import load_file

    from safealign.train.reward_model import HEAD_FILE

    base = tiny_model(0)
    lm = PeftModel.from_pretrained(base.model, result.scalar_model_dir / "adapter")
    module = ScalarHeadModel(lm)
    module.score.load_state_dict(load_file(str(result.scalar_model_dir / HEAD_FILE)))
    reloaded = ScalarModel(module.eval(), base.tokenizer, "cost")
    costs = reloaded.score(["request 0", "request 0"], ["No, I won't.", "[unsafe response text]"])
    assert costs[0] < 0 < costs[1]
    with pytest.raises(Exception, match="not a safealign reward/cost model"):
        load_scalar_model(tmp_path)
