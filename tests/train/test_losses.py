"""Each loss against its formula worked out by hand with `math` on fixed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from safealign.config import config_from_dict
from safealign.errors import ConfigError
from safealign.train import (
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


def softplus(x: float) -> float:
    """-log sigmoid(-x) = log(1 + e^x), by hand."""
    return math.log(1.0 + math.exp(x))


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# Two pairs of summed log-probs. Pair 1: chosen log-ratio -10 - -11 = 1, rejected -12 - -11.5 =
# -0.5, so h = 1.5. Pair 2: chosen -20 - -19 = -1, rejected -15 - -16 = 1, so h = -2.
POLICY_CHOSEN = (-10.0, -20.0)
POLICY_REJECTED = (-12.0, -15.0)
REF_CHOSEN = (-11.0, -19.0)
REF_REJECTED = (-11.5, -16.0)
H = (1.5, -2.0)


def logps() -> dict[str, torch.Tensor]:
    return {
        "policy_chosen": t(*POLICY_CHOSEN),
        "policy_rejected": t(*POLICY_REJECTED),
        "ref_chosen": t(*REF_CHOSEN),
        "ref_rejected": t(*REF_REJECTED),
    }


def test_dpo_loss_matches_hand_computation() -> None:
    beta = 0.1
    # -log sigmoid(beta h) = log(1 + exp(-beta h))
    expected = (softplus(-0.15) + softplus(0.2)) / 2
    loss, metrics = dpo_loss(**logps(), beta=beta)
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert metrics["rewards/chosen"].item() == pytest.approx((0.1 * 1 + 0.1 * -1) / 2)
    assert metrics["rewards/rejected"].item() == pytest.approx((0.1 * -0.5 + 0.1 * 1) / 2)
    assert metrics["rewards/margins"].item() == pytest.approx((0.15 - 0.2) / 2)
    assert metrics["rewards/accuracies"].item() == pytest.approx(0.5)


def test_dpo_label_smoothing_is_conservative_dpo() -> None:
    eps = 0.2
    # -(1 - eps) log s(bh) - eps log s(-bh) = (1 - eps) log(1 + e^-bh) + eps log(1 + e^bh)
    pair1 = 0.8 * softplus(-0.15) + 0.2 * softplus(0.15)
    pair2 = 0.8 * softplus(0.2) + 0.2 * softplus(-0.2)
    loss, _ = dpo_loss(**logps(), beta=0.1, label_smoothing=eps)
    assert loss.item() == pytest.approx((pair1 + pair2) / 2, abs=1e-12)
    # eps = 0.5 is indifferent to the label: log(1+e^x)/2 + log(1+e^-x)/2, symmetric in h
    half, _ = dpo_loss(**logps(), beta=0.1, label_smoothing=0.5)
    flipped = logps()
    flipped["policy_chosen"], flipped["policy_rejected"] = t(*POLICY_REJECTED), t(*POLICY_CHOSEN)
    flipped["ref_chosen"], flipped["ref_rejected"] = t(*REF_REJECTED), t(*REF_CHOSEN)
    half_flipped, _ = dpo_loss(**flipped, beta=0.1, label_smoothing=0.5)
    assert half.item() == pytest.approx(half_flipped.item(), abs=1e-12)


def test_dpo_rejects_label_smoothing_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 0.5\], got 0.7"):
        dpo_loss(**logps(), label_smoothing=0.7)


def test_dpo_is_stable_for_huge_margins() -> None:
    big = {k: v * 1e4 for k, v in logps().items()}
    for key in big:
        big[key].requires_grad_(True)
    loss, _ = dpo_loss(**big, beta=1.0)
    loss.backward()
    # pair 2 has beta h = -2e4: the loss is ~2e4 / 2, and finite
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(1e4, rel=1e-6)
    assert all(torch.isfinite(big[key].grad).all() for key in big)


def test_ipo_loss_matches_hand_computation() -> None:
    beta = 0.1  # target 1 / (2 * 0.1) = 5
    loss, metrics = ipo_loss(**logps(), beta=beta)
    assert loss.item() == pytest.approx(((1.5 - 5) ** 2 + (-2 - 5) ** 2) / 2, abs=1e-12)
    assert metrics["rewards/margins"].item() == pytest.approx(0.1 * (1.5 - 2.0) / 2)


def test_ipo_divides_log_ratios_by_token_counts() -> None:
    # pair 1: 1/4 - (-0.5)/2 = 0.5; pair 2: -1/5 - 1/10 = -0.3
    lengths = {"chosen_lengths": t(4, 5), "rejected_lengths": t(2, 10)}
    loss, metrics = ipo_loss(**logps(), beta=0.25, **lengths)  # target 2
    assert loss.item() == pytest.approx(((0.5 - 2) ** 2 + (-0.3 - 2) ** 2) / 2, abs=1e-12)
    # reward metrics use the log-ratios before the division, as TRL logs them
    assert metrics["rewards/chosen"].item() == pytest.approx(0.25 * (1 - 1) / 2)
    with pytest.raises(ValueError, match="pass both chosen_lengths and rejected_lengths"):
        ipo_loss(**logps(), chosen_lengths=t(4, 5))


@pytest.mark.parametrize(
    ("chosen_safe", "rejected_safe", "target_times_tau"),
    [
        (1, 1, 0.5),  # (3 * 1/2 - 1/2 - 1/2) = 0.5: both safe, IPO's target
        (1, 0, 1.0),  # (3/2 - 0 - 1/2) = 1: helpful and safe beats unhelpful and unsafe
        (0, 1, -1.0),  # (0 - 1/2 - 1/2) = -1: the safe, less helpful one must win
        (0, 0, -0.5),  # (0 - 0 - 1/2) = -0.5: both unsafe, prefer the less helpful
    ],
)
def test_bfpo_target_four_safety_cases(
    chosen_safe: int, rejected_safe: int, target_times_tau: float
) -> None:
    tau = 0.01
    target = bfpo_target(t(chosen_safe), t(rejected_safe), b1=3.0, alpha=0.5, tau=tau)
    assert target.item() == pytest.approx(target_times_tau / tau)
    # and through the loss: h = 1.5 on pair 1
    loss, _ = bfpo_loss(
        **{k: v[:1] for k, v in logps().items()},
        chosen_safe=t(chosen_safe),
        rejected_safe=t(rejected_safe),
        beta=tau,
    )
    assert loss.item() == pytest.approx((1.5 - target_times_tau / tau) ** 2)


def test_bfpo_target_other_hyperparameters() -> None:
    # b1 = 5 -> b3 = 1/4; alpha = 0.2; tau = 0.5: (5/4 * 1 - 1/4 * 0 - 0.2) / 0.5 = 2.1
    target = bfpo_target(t(1, 1, 0, 0), t(0, 1, 1, 0), b1=5.0, alpha=0.2, tau=0.5)
    expected = [(1.25 - 0.2) / 0.5, (1.25 - 0.25 - 0.2) / 0.5, (-0.25 - 0.2) / 0.5, -0.2 / 0.5]
    assert target.tolist() == pytest.approx(expected)


def test_bfpo_loss_batch_and_safety_reward_metrics() -> None:
    tau = 0.1
    loss, metrics = bfpo_loss(**logps(), chosen_safe=t(1, 0), rejected_safe=t(0, 1), beta=tau)
    # pair 1 target 1/0.1 = 10, pair 2 target -1/0.1 = -10
    assert loss.item() == pytest.approx(((1.5 - 10) ** 2 + (-2 + 10) ** 2) / 2, abs=1e-12)
    assert metrics["rewards/chosen_safe"].item() == pytest.approx(0.1 * 1)
    assert metrics["rewards/chosen_unsafe"].item() == pytest.approx(0.1 * -1)
    _, all_safe = bfpo_loss(**logps(), chosen_safe=t(1, 1), rejected_safe=t(1, 1), beta=tau)
    assert "rewards/chosen_unsafe" not in all_safe
    assert all_safe["rewards/chosen_safe"].item() == pytest.approx(0.0)


@pytest.mark.parametrize("with_lengths", [False, True])
def test_bfpo_with_both_safe_equals_ipo_at_matching_beta(with_lengths: bool) -> None:
    # both safe: target 0.5 / tau = 1 / (2 tau), IPO's 1 / (2 beta) when tau = beta
    generator = torch.Generator().manual_seed(0)
    inputs = {k: -50 * torch.rand(16, generator=generator) for k in logps()}
    if with_lengths:
        inputs["chosen_lengths"] = torch.randint(1, 40, (16,), generator=generator)
        inputs["rejected_lengths"] = torch.randint(1, 40, (16,), generator=generator)
    ones = torch.ones(16)
    for beta in (0.01, 0.1, 0.5):
        ipo, _ = ipo_loss(**inputs, beta=beta)
        bfpo, _ = bfpo_loss(**inputs, chosen_safe=ones, rejected_safe=ones.bool(), beta=beta)
        torch.testing.assert_close(bfpo, ipo)


def test_bfpo_rejects_flags_that_are_not_zero_or_one() -> None:
    with pytest.raises(ValueError, match=r"chosen_safe must hold only 0/1 \(or bool\) values"):
        bfpo_loss(**logps(), chosen_safe=t(1, 2), rejected_safe=t(0, 1))


def test_sft_loss_token_mean_and_sequence_mean() -> None:
    # summed log-probs -6 over 3 tokens and -3 over 2: 9 nats / 5 tokens
    loss, metrics = sft_loss(t(-6, -3), chosen_lengths=t(3, 2))
    assert loss.item() == pytest.approx(9 / 5)
    assert metrics["nll"].item() == pytest.approx(1.8)
    # per-sequence mean log-probs -2 and -1.5: every response counts once
    loss, _ = sft_loss(t(-2, -1.5))
    assert loss.item() == pytest.approx(1.75)


def test_reward_model_loss_is_bradley_terry() -> None:
    loss, metrics = reward_model_loss(t(1.0, -0.5), t(0.2, 0.5))
    # margins 0.8 and -1.0: -log s(m) = log(1 + e^-m)
    assert loss.item() == pytest.approx((softplus(-0.8) + softplus(1.0)) / 2, abs=1e-12)
    assert metrics["accuracy"].item() == pytest.approx(0.5)
    assert metrics["reward/margin"].item() == pytest.approx(-0.1)


def test_cost_model_loss_is_safe_rlhf() -> None:
    cost_less_safe, cost_safer = t(2.0, -0.5), t(-1.0, 0.3)
    less_safe_is_unsafe, safer_is_unsafe = t(1, 0), t(0, 0)
    loss, metrics = cost_model_loss(
        cost_less_safe, cost_safer, less_safe_is_unsafe, safer_is_unsafe
    )
    # pair 1: -log s(2 - -1) - log s(+1 * 2) - log s(-1 * -1)
    pair1 = softplus(-3.0) + softplus(-2.0) + softplus(-1.0)
    # pair 2: -log s(-0.5 - 0.3) - log s(-1 * -0.5) - log s(-1 * 0.3)
    pair2 = softplus(0.8) + softplus(-0.5) + softplus(0.3)
    assert loss.item() == pytest.approx((pair1 + pair2) / 2, abs=1e-12)
    assert metrics["accuracy"].item() == pytest.approx(0.5)  # 2 > -1 yes, -0.5 > 0.3 no
    # signs: 2 > 0 unsafe ok, -1 safe ok, -0.5 safe ok, 0.3 > 0 but safe: wrong
    assert metrics["sign_accuracy"].item() == pytest.approx(0.75)


@pytest.mark.parametrize("name", sorted(PREFERENCE_LOSSES))
def test_gradients_flow_and_are_finite(name: str) -> None:
    inputs = {k: v.clone().requires_grad_(True) for k, v in logps().items()}
    inputs.update(chosen_safe=t(1, 0), rejected_safe=t(1, 1), chosen_lengths=t(3, 4))
    inputs["rejected_lengths"] = t(2, 5)
    loss, _ = combined_loss({name: 1.0}, **inputs)
    loss.backward()
    grad = inputs["policy_chosen"].grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    if name != "sft":
        assert torch.isfinite(inputs["policy_rejected"].grad).all()
        assert inputs["policy_rejected"].grad.abs().sum() > 0


def test_dpo_gradient_raises_chosen_and_lowers_rejected() -> None:
    inputs = {k: v.clone().requires_grad_(True) for k, v in logps().items()}
    loss, _ = dpo_loss(**inputs)
    loss.backward()
    # d/dpi_c of -log s(beta h) = -beta s(-beta h) / batch: descent raises pi_c
    expected = -0.1 * (1 / (1 + math.exp(0.15))) / 2
    assert inputs["policy_chosen"].grad[0].item() == pytest.approx(expected)
    assert (inputs["policy_rejected"].grad > 0).all()
    assert (inputs["ref_chosen"].grad > 0).all()  # refs get grads too; trainers detach them


def test_reward_and_cost_gradients_are_finite() -> None:
    rewards = [t(1.0, -0.5).requires_grad_(True), t(0.2, 0.5).requires_grad_(True)]
    reward_model_loss(*rewards)[0].backward()
    costs = [t(2.0, -0.5).requires_grad_(True), t(-1.0, 0.3).requires_grad_(True)]
    cost_model_loss(*costs, t(1, 0), t(0, 0))[0].backward()
    for tensor in rewards + costs:
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_combined_loss_weights_and_prefixes_metrics() -> None:
    inputs = {**logps(), "chosen_lengths": t(5, 5), "rejected_lengths": t(5, 5)}
    dpo, dpo_metrics = dpo_loss(**logps(), beta=0.2)
    sft, _ = sft_loss(inputs["policy_chosen"], chosen_lengths=inputs["chosen_lengths"])
    total, metrics = combined_loss({"dpo": 1.0, "sft": 0.5}, {"dpo": {"beta": 0.2}}, **inputs)
    # by hand: dpo at beta 0.2 plus half of 30 nats / 10 tokens
    by_hand = (softplus(-0.3) + softplus(0.4)) / 2 + 0.5 * 3.0
    assert total.item() == pytest.approx(by_hand, abs=1e-12)
    assert total.item() == pytest.approx(dpo.item() + 0.5 * sft.item())
    assert metrics["dpo/loss"].item() == pytest.approx(dpo.item())
    assert metrics["sft/nll"].item() == pytest.approx(3.0)
    assert metrics["dpo/rewards/margins"] == dpo_metrics["rewards/margins"]
    assert not any(key.startswith("ipo/") for key in metrics)


def test_combined_loss_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown or unweighted loss name"):
        combined_loss({"dop": 1.0}, **logps())
    with pytest.raises(
        ValueError, match=r"loss 'bfpo' needs input\(s\) chosen_safe, rejected_safe"
    ):
        combined_loss({"bfpo": 1.0}, **logps())
    with pytest.raises(ValueError, match="loss 'ipo' has no parameter"):
        combined_loss({"ipo": 1.0}, {"ipo": {"label_smoothing": 0.1}}, **logps())
    with pytest.raises(ValueError, match="every loss weight is 0"):
        combined_loss({"dpo": 0.0}, **logps())
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        combined_loss({"dpo": -1.0}, **logps())


def test_inputs_must_be_one_value_per_sequence() -> None:
    per_token = torch.zeros(2, 7)
    with pytest.raises(ValueError, match=r"policy_chosen must be a 1-D tensor .* got \(2, 7\)"):
        dpo_loss(per_token, t(1, 2), t(1, 2), t(1, 2))
    with pytest.raises(ValueError, match="inputs must share one batch size"):
        dpo_loss(t(1, 2, 3), t(1, 2), t(1, 2), t(1, 2))


def test_loss_config_single_and_weighted() -> None:
    config = LossConfig(name="bfpo", beta=0.1, bfpo_b1=3.0, bfpo_alpha=0.5)
    assert config.loss_weights() == {"bfpo": 1.0}
    assert config.loss_params() == {"bfpo": {"beta": 0.1, "b1": 3.0, "alpha": 0.5}}
    flags = {"chosen_safe": t(1, 0), "rejected_safe": t(0, 1)}
    loss, metrics = config.compute(**logps(), **flags)
    assert loss.item() == pytest.approx(((1.5 - 10) ** 2 + (-2 + 10) ** 2) / 2)
    assert "bfpo/rewards/chosen_safe" in metrics

    mixed = LossConfig(weights={"dpo": 1.0, "sft": 0.1}, label_smoothing=0.1)
    assert mixed.loss_params() == {"dpo": {"beta": 0.1, "label_smoothing": 0.1}, "sft": {}}


def test_loss_config_per_token_switches_ipo_and_bfpo_between_token_means_and_sums() -> None:
    # Sums: chosen log-ratio -1 - (-3) = 2 over 4 tokens, rejected -6 - (-4) = -2 over 2 tokens.
    sums = {
        "policy_chosen": t(-1.0),
        "ref_chosen": t(-3.0),
        "policy_rejected": t(-6.0),
        "ref_rejected": t(-4.0),
        "chosen_lengths": t(4.0),
        "rejected_lengths": t(2.0),
        "chosen_safe": t(1),
        "rejected_safe": t(1),
    }
    # Both safe: target 0.5 / tau = 1 at tau 0.5. Per token h = 2/4 + 2/2 = 1.5; summed h = 4.
    per_token = LossConfig(name="bfpo", beta=0.5)
    summed = LossConfig(name="bfpo", beta=0.5, per_token=False)
    assert per_token.compute(**sums)[0].item() == pytest.approx((1.5 - 1.0) ** 2)
    assert summed.compute(**sums)[0].item() == pytest.approx((4.0 - 1.0) ** 2)
    ipo = LossConfig(name="ipo", beta=0.5, per_token=False)
    assert ipo.compute(**sums)[0].item() == pytest.approx((4.0 - 1.0) ** 2)
    # DPO always uses sums; the switch leaves it alone.
    dpo_on, dpo_off = LossConfig(name="dpo"), LossConfig(name="dpo", per_token=False)
    assert dpo_on.compute(**sums)[0].item() == pytest.approx(dpo_off.compute(**sums)[0].item())


def test_loss_config_from_yaml_values_rejects_bad_ones() -> None:
    config = config_from_dict(LossConfig, {"weights": {"ipo": 1.0}, "beta": 0.05})
    assert config.loss_params() == {"ipo": {"beta": 0.05}}
    with pytest.raises(ConfigError, match="unknown loss 'dop'; choose from dpo, ipo, bfpo, sft"):
        config_from_dict(LossConfig, {"name": "dop"})
    with pytest.raises(ConfigError, match="beta must be > 0"):
        config_from_dict(LossConfig, {"beta": 0.0})
    with pytest.raises(ConfigError, match="bfpo_b1 must be > 1"):
        config_from_dict(LossConfig, {"bfpo_b1": 1.0})
