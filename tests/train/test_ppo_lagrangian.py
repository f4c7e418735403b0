"""Safe RLHF's PPO-Lagrangian loop on the tiny model: it trains both adapters and the value
heads, moves lambda as designed, writes its outputs, and resumes exactly."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from safealign.data.schema import Sample
from safealign.errors import ConfigError, RunInterrupted
from safealign.models import tiny_model
from safealign.train.config import TrainConfig
from safealign.train.safe_rlhf.critic import CRITIC_ADAPTER, POLICY_ADAPTER, adapter_parameters
from safealign.train.safe_rlhf.loop import train_safe_rlhf
from safealign.train.safe_rlhf.rollout import prompt_batch
from safealign.train.trainer import train

from .helpers import ppo_prompts, safe_rlhf_config

pytestmark = pytest.mark.slow


def prompts(n: int = 6) -> list[Sample]:
    return ppo_prompts(n)


def reward_by_length(conversations, responses) -> torch.Tensor:
    """A stand-in reward model: longer answers score higher."""
    return torch.tensor([len(r) / 10.0 for r in responses])


def constant_cost(conversations, responses) -> torch.Tensor:
    """A stand-in cost model that calls every answer unsafe by 1."""
    return torch.ones(len(responses))


def config(tmp_path, **overrides) -> TrainConfig:
    return safe_rlhf_config(tmp_path / "run", **overrides)


def snapshot(model) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().clone()
        for adapter in (POLICY_ADAPTER, CRITIC_ADAPTER)
        for name, p in adapter_parameters(model, adapter).items()
    }


def test_ppo_lag_trains_policy_and_critic_and_moves_lambda(tmp_path):
    loaded = tiny_model(0)
    cfg = config(tmp_path)
    seen = []
    result = train_safe_rlhf(
        cfg,
        loaded=loaded,
        prompts=prompts(),
        reward_scorer=reward_by_length,
        cost_scorer=constant_cost,
        on_step=lambda step, row: seen.append(step),
    )
    assert seen == [1, 2, 3]

    # Every LoRA matrix moved away from its init (re-created with the run's seed; B = 0).
    from peft import LoraConfig, get_peft_model

    fresh = tiny_model(0)
    torch.manual_seed(cfg.seed)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=cfg.lora_target_modules)
    start = get_peft_model(fresh.model, lora)
    start.add_adapter(CRITIC_ADAPTER, lora)
    before = snapshot(start)
    out = tmp_path / "run"
    critic = load_file(str(out / "critic" / "critic.safetensors"))
    trained = {**dict(result.model.model.named_parameters()), **critic}  # critic saved apart
    assert any(f".{POLICY_ADAPTER}." in n for n in before)
    assert any(f".{CRITIC_ADAPTER}." in n for n in before)
    for name in before:
        assert not torch.allclose(trained[name].cpu(), before[name]), f"{name} did not change"

    # Lambda by hand: cost 1 > d = 0 every time, lr 0.1, lambda_0 = 1:
    # log l1 = 0.1 * 1 * e^0 = 0.1; log l2 = 0.1 + 0.1 e^0.1; log l3 = log l2 + 0.1 e^(log l2).
    log_lambda, expected = 0.0, []
    for _ in range(3):
        log_lambda += 0.1 * 1.0 * math.exp(log_lambda)
        expected.append(math.exp(log_lambda))
    assert [row["lambda"] for row in result.metrics] == pytest.approx(expected)
    for key in ("reward", "cost", "kl", "clip_fraction", "entropy", "episode_cost"):
        assert all(key in row for row in result.metrics), key
    assert result.metrics[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # policy == reference

    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert len((out / "rollouts.jsonl").read_text().splitlines()) == 12
    assert (out / "training_curves.png").stat().st_size > 1000
    saved = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert saved and not any(CRITIC_ADAPTER in k for k in saved)  # the policy only
    assert "value_heads.cost.weight" in critic
    assert any(f".{CRITIC_ADAPTER}." in k for k in critic)


def test_lambda_is_capped_and_waits_for_the_delay(tmp_path):
    cfg = config(tmp_path, max_steps=2)
    cfg.safe_rlhf.lambda_update_delay = 1
    cfg.safe_rlhf.lambda_lr = 5.0
    cfg.safe_rlhf.lambda_max = 2.0
    result = train_safe_rlhf(
        cfg,
        loaded=tiny_model(0),
        prompts=prompts(),
        reward_scorer=reward_by_length,
        cost_scorer=constant_cost,
    )
    # Iteration 1 is inside the delay; iteration 2 would jump to e^5 but is capped at 2.
    assert [row["lambda"] for row in result.metrics] == pytest.approx([1.0, 2.0])


def test_interrupted_run_resumed_matches_uninterrupted_run(tmp_path):

    straight = train_safe_rlhf(
        config(tmp_path / "a", max_steps=4, save_every=2),
        loaded=tiny_model(0),
        prompts=prompts(),
        reward_scorer=reward_by_length,
        cost_scorer=lambda c, r: torch.tensor([len(x) % 3 - 1.0 for x in r]),
    )

    def crash(step, row):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted, match="step 3 of 4; saved: checkpoint step 2 in"):
        train_safe_rlhf(
            config(tmp_path / "b", max_steps=4, save_every=2),
            loaded=tiny_model(0),
            prompts=prompts(),
            reward_scorer=reward_by_length,
            cost_scorer=lambda c, r: torch.tensor([len(x) % 3 - 1.0 for x in r]),
            on_step=crash,
        )
    resumed = train_safe_rlhf(
        config(tmp_path / "b", max_steps=4, save_every=2, resume=True),
        loaded=tiny_model(0),
        prompts=prompts(),
        reward_scorer=reward_by_length,
        cost_scorer=lambda c, r: torch.tensor([len(x) % 3 - 1.0 for x in r]),
    )
    expected = dict(straight.model.model.named_parameters())
    for name, value in resumed.model.model.named_parameters():
        if "lora_" in name:
            assert torch.equal(value, expected[name]), name
    keys = ("reward", "cost", "lambda", "kl", "policy_loss", "value_loss_cost")
    for a, b in zip(straight.metrics, resumed.metrics, strict=True):
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    rollouts_a = (tmp_path / "a" / "run" / "rollouts.jsonl").read_text()
    assert (tmp_path / "b" / "run" / "rollouts.jsonl").read_text() == rollouts_a


def test_train_dispatches_safe_rlhf_and_names_missing_models(tmp_path):
    with pytest.raises(ConfigError, match="safe_rlhf.reward_model"):
        train(config(tmp_path), loaded=tiny_model(0), samples=prompts())


def test_prompt_batches_cover_every_prompt_each_epoch_and_split_processes():
    items = prompts(6)
    epoch = [p.id for i in range(3) for p in prompt_batch(items, i, 2, 0, 0, 1)]
    assert sorted(epoch) == sorted(p.id for p in items)
    two = [p.id for i in range(3) for r in range(2) for p in prompt_batch(items, i, 1, 0, r, 2)]
    assert two == epoch  # 2 processes x 1 prompt walk the same order as 1 x 2


def test_bad_settings_name_the_field(tmp_path):
    from safealign.config import config_from_dict

    with pytest.raises(ConfigError, match="mini_batch_size .* must not exceed rollout_batch_size"):
        config_from_dict(
            TrainConfig,
            {
                "objective": "safe_rlhf",
                "safe_rlhf": {"rollout_batch_size": 4, "mini_batch_size": 8},
            },
        )
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        config_from_dict(TrainConfig, {"safe_rlhf": {"temperature": 0.0}})


def test_a_cost_model_path_that_is_no_model_says_how_to_get_one(tmp_path):
    from safealign.errors import ModelLoadError
    from safealign.train.safe_rlhf.scorers import load_scorer

    with pytest.raises(ModelLoadError, match="configs/train/cost.yaml"):
        load_scorer(tmp_path / "missing", "cost", device="cpu")


def test_ppo_from_an_adapter_uses_its_merge_as_start_and_reference(tmp_path):
    """Safe RLHF starts from an SFT (or BFPO) policy: `model` may be a trained adapter. It is
    merged, so the reference (adapters off) is the start policy, not the bare base, and the
    saved policy adapter loads back onto that start."""
    from peft import LoraConfig, get_peft_model

    from safealign.models import load_model
    from safealign.models.loading import ADAPTER_META

    base = tmp_path / "base"
    tiny = tiny_model(0)
    tiny.model.save_pretrained(base)
    tiny.tokenizer.save_pretrained(base)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    torch.manual_seed(1)
    lora.init_lora_weights = False  # a non-zero adapter: the start differs from the base
    start = get_peft_model(tiny_model(0).model, lora)
    start.save_pretrained(tmp_path / "start")
    (tmp_path / "start" / ADAPTER_META).write_text(json.dumps({"base_model": str(base)}))

    ids = torch.tensor([[5, 40, 41, 42, 43, 44]])
    with torch.no_grad():
        base_logits = tiny_model(0).model(input_ids=ids).logits
        start_logits = load_model(tmp_path / "start", dtype="float32").model(input_ids=ids).logits
    assert not torch.allclose(base_logits, start_logits, atol=1e-3)

    cfg = config(tmp_path, model=str(tmp_path / "start"), dtype="float32", merge=False)
    result = train_safe_rlhf(
        cfg, prompts=prompts(), reward_scorer=reward_by_length, cost_scorer=constant_cost
    )
    assert result.metrics[0]["kl"] == pytest.approx(0.0, abs=1e-5)
    policy = result.model.model
    with torch.no_grad():
        with policy.disable_adapter():
            reference_logits = policy(input_ids=ids).logits
        trained_logits = policy(input_ids=ids).logits
        reloaded = load_model(tmp_path / "run" / "adapter", dtype="float32")
        reloaded_logits = reloaded.model(input_ids=ids).logits
    assert torch.allclose(reference_logits, start_logits, atol=1e-5)
    assert not torch.allclose(trained_logits, start_logits, atol=1e-4)  # PPO moved the policy
    assert torch.allclose(reloaded_logits, trained_logits, atol=1e-4)
