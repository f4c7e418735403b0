"""PPO-Lagrangian math against numbers worked out by hand (see each test's comment)."""

from __future__ import annotations

import math

import pytest
import torch

from safealign.train.safe_rlhf.ppo_losses import (
    combined_advantage,
    gae,
    kl_shaped_rewards,
    masked_mean,
    ppo_clipped_loss,
    token_entropy,
    update_log_lambda,
    value_loss,
    whiten,
)


def t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_gae_on_a_hand_made_trajectory():
    # Row 0: a prompt column, three response tokens, one padding column; the 9s outside the
    # mask must be ignored. gamma 0.9, lambda 0.8 (gamma*lambda = 0.72):
    #   t3: delta = 1.0 - 0.3 = 0.7                      A = 0.7
    #   t2: delta = -0.2 + 0.9*0.3 - 0.4 = -0.33         A = -0.33 + 0.72*0.7 = 0.174
    #   t1: delta = 0.1 + 0.9*0.4 - 0.5 = -0.04          A = -0.04 + 0.72*0.174 = 0.08528
    # Row 1: two response tokens first: t1 A = 2.0; t0 delta = 0.5 - 1.0, A = -0.5 + 1.44 = 0.94.
    rewards = t([9.0, 0.1, -0.2, 1.0, 9.0], [0.5, 2.0, 9.0, 9.0, 9.0])
    values = t([9.0, 0.5, 0.4, 0.3, 9.0], [1.0, 0.0, 9.0, 9.0, 9.0])
    mask = t([0, 1, 1, 1, 0], [1, 1, 0, 0, 0])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    expected = t([0.0, 0.08528, 0.174, 0.7, 0.0], [0.94, 2.0, 0.0, 0.0, 0.0])
    assert torch.allclose(advantages, expected, atol=1e-12)
    assert torch.allclose(returns, t([0, 0.58528, 0.574, 1.0, 0], [1.94, 2.0, 0, 0, 0]))


def test_gae_with_gamma_and_lambda_one_is_reward_to_go_minus_value():
    rewards = t([1.0, 2.0, 3.0])
    values = t([0.5, 0.25, 0.0])
    advantages, returns = gae(rewards, values, t([1, 1, 1]), gamma=1.0, lam=1.0)
    assert torch.allclose(returns, t([6.0, 5.0, 3.0]))
    assert torch.allclose(advantages, t([5.5, 4.75, 3.0]))


def test_kl_shaping_splits_the_penalty_and_adds_scores_at_the_last_token():
    # kl = log pi - log pi_ref = [., 0.5, 0, -1] on the response; kl_coef 0.1:
    # k = [0.05, 0, -0.1].
    # rewards = -k/2 (+R=2 at the end): [-0.025, 0, 0.05 + 2]; costs = +k/2 (+C=-1):
    # [0.025, 0, -0.05 - 1].
    logprobs = t([-7.0, -1.0, -2.0, -3.0])
    ref = t([-3.0, -1.5, -2.0, -2.0])
    mask = t([0, 1, 1, 1])
    rewards, costs, kl = kl_shaped_rewards(t(2.0), t(-1.0), logprobs, ref, mask, kl_coef=0.1)
    assert torch.allclose(kl, t([0.0, 0.5, 0.0, -1.0]))
    assert torch.allclose(rewards, t([0.0, -0.025, 0.0, 2.05]))
    assert torch.allclose(costs, t([0.0, 0.025, 0.0, -1.05]))
    clipped, _, _ = kl_shaped_rewards(t(2.0), t(-1.0), logprobs, ref, mask, 0.1, score_clip=1.5)
    assert clipped[0, 3].item() == pytest.approx(1.55)


def test_kl_shaping_puts_each_rows_score_on_its_own_last_token():
    mask = t([1, 1, 0], [1, 1, 1])
    zeros = torch.zeros(2, 3, dtype=torch.float64)
    rewards, costs, _ = kl_shaped_rewards(t(3.0, 4.0), t(5.0, 6.0), zeros, zeros, mask, 0.02)
    assert torch.equal(rewards, t([0, 3.0, 0], [0, 0, 4.0]))
    assert torch.equal(costs, t([0, 5.0, 0], [0, 0, 6.0]))


def test_combined_advantage_by_hand():
    # (1 - 3*2) / (1 + 3) = -1.25; lambda 0 leaves the reward advantage.
    assert combined_advantage(t(1.0), t(2.0), 3.0).item() == pytest.approx(-1.25)
    assert combined_advantage(t(1.0), t(2.0), 0.0).item() == pytest.approx(1.0)
    # A large lambda approaches -A_C: the policy then only lowers cost.
    assert combined_advantage(t(1.0), t(2.0), 1e6).item() == pytest.approx(-2.0, abs=1e-5)


def test_ppo_clip_by_hand():
    # Token 1: ratio e^0.5 = 1.6487, A = 2: unclipped -3.297, clipped -2*1.2 = -2.4 -> -2.4 (clip).
    # Token 2: ratio e^-0.5 = 0.6065, A = 2: -1.2131 vs -1.6 -> -1.2131 (no clip).
    # Token 3: ratio 0.6065, A = -1: 0.6065 vs 0.8 -> 0.8 (clip).
    # Token 4: ratio e^0.1 = 1.1052, A = -1: 1.1052 both (inside the range, no clip).
    old = t([-1.0, -1.0], [-1.0, -1.0])
    new = t([-0.5, -1.5], [-1.5, -0.9])
    advantages = t([2.0, 2.0], [-1.0, -1.0])
    mask = t([1, 1], [1, 1])
    loss, metrics = ppo_clipped_loss(new, old, advantages, mask, clip=0.2)
    row0 = (-2.4 - 2.0 * math.exp(-0.5)) / 2
    row1 = (0.8 + math.exp(0.1)) / 2
    assert loss.item() == pytest.approx((row0 + row1) / 2)
    assert metrics["clip_fraction"] == pytest.approx(0.5)
    ratios = [math.exp(0.5), math.exp(-0.5), math.exp(-0.5), math.exp(0.1)]
    assert metrics["ratio"] == pytest.approx(sum(ratios) / 4)
    approx_kl = sum(r - 1 - math.log(r) for r in ratios) / 4
    assert metrics["approx_kl"] == pytest.approx(approx_kl)


def test_ppo_gradient_vanishes_on_clipped_tokens():
    new = t([-0.5, -1.5]).requires_grad_(True)
    loss, _ = ppo_clipped_loss(new, t([-1.0, -1.0]), t([2.0, 2.0]), t([1, 1]), clip=0.2)
    loss.backward()
    # Token 0 is clipped (no gradient); token 1: d/dlogp of -A r / 2 = -2 * e^-0.5 / 2.
    assert new.grad[0, 0].item() == 0.0
    assert new.grad[0, 1].item() == pytest.approx(-math.exp(-0.5))


def test_value_loss_clipping_by_hand():
    # V = [1, 3], V_old = 0, G = 2, clip 0.5: V_clip = 0.5 for both, (0.5-2)^2 = 2.25 beats 1.
    values, old, returns, mask = t([1.0, 3.0]), t([0.0, 0.0]), t([2.0, 2.0]), t([1, 1])
    assert value_loss(values, old, returns, mask, clip=0.5).item() == pytest.approx(1.125)
    assert value_loss(values, old, returns, mask, clip=None).item() == pytest.approx(0.5)


def test_lambda_update_direction_and_size():
    # log_lambda 0 (lambda 1), lr 0.1: cost 0.5 above d=0 -> +0.05; below -> -0.05.
    assert update_log_lambda(0.0, 0.5, threshold=0.0, lr=0.1) == pytest.approx(0.05)
    assert update_log_lambda(0.0, -0.5, threshold=0.0, lr=0.1) == pytest.approx(-0.05)
    # The step scales with lambda itself: at lambda 2 the same excess moves log_lambda 0.1.
    assert update_log_lambda(math.log(2.0), 0.5, lr=0.1) == pytest.approx(math.log(2.0) + 0.1)
    # The threshold shifts the sign: a cost of 0.5 under d = 1 lowers lambda.
    assert update_log_lambda(0.0, 0.5, threshold=1.0, lr=0.1) < 0.0


def test_lambda_update_is_capped():
    capped = update_log_lambda(math.log(4.9), 10.0, lr=0.1, lambda_max=5.0)
    assert math.exp(capped) == pytest.approx(5.0)
    assert update_log_lambda(math.log(4.9), 10.0, lr=0.1, lambda_max=None) > math.log(5.0)
    with pytest.raises(ValueError):
        update_log_lambda(0.0, 1.0, lambda_max=0.0)


def test_entropy_and_masked_mean():
    logits = torch.zeros(1, 2, 4)  # uniform over 4 tokens: entropy log 4
    assert token_entropy(logits, torch.tensor([[1, 0]])).item() == pytest.approx(math.log(4))
    # Each row's masked mean first ([1.5] and [3]), then their mean.
    values = t([1.0, 2.0, 100.0], [3.0, 100.0, 100.0])
    assert masked_mean(values, t([1, 1, 0], [1, 0, 0])).item() == pytest.approx(2.25)


def test_whiten_by_hand():
    # Masked entries 1, 2, 3, 6: mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5.
    values = t([1.0, 2.0, 50.0], [3.0, 6.0, -7.0])
    mask = t([1, 1, 0], [1, 1, 0])
    out = whiten(values, mask, eps=0.0)
    s = math.sqrt(3.5)
    assert out.flatten().tolist() == pytest.approx([-2 / s, -1 / s, 0.0, 0.0, 3 / s, 0.0])
    # An advantage of one sign everywhere (a critic off by the mean) gets both signs.
    shifted = whiten(values + 10.0, mask, eps=0.0)
    assert shifted.flatten().tolist() == pytest.approx(out.flatten().tolist())
