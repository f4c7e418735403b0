"""Metrics, temperature scaling, thresholds and the multi-task loss against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from safealign.config import load_config
from safealign.errors import ConfigError
from safealign.guard.calibration import (
    ThresholdRule,
    best_f1_threshold,
    best_threshold,
    category_thresholds,
    fit_temperature,
)
from safealign.guard.encoder_training import balanced_pos_weight, example_targets, guard_loss
from safealign.guard.examples import GuardExample
from safealign.guard.metrics import average_precision, binary_metrics, pr_curve


def test_binary_metrics_by_hand() -> None:
    labels = [1, 1, 1, 0, 0, 0, 0]
    probs = [0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.05]
    m = binary_metrics(labels, probs, threshold=0.5)
    # predicted harmful: 0.9 (tp), 0.6 (tp), 0.7 (fp); missed: 0.2 (fn)
    assert (m.precision, m.recall) == pytest.approx((2 / 3, 2 / 3))
    assert m.f1 == pytest.approx(2 / 3)
    assert (m.support, m.count) == (3, 7)
    # ranked: .9 T, .7 F, .6 T, .3 F, .2 T -> AP = 1/3*1 + 1/3*2/3 + 1/3*3/5
    assert m.auprc == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_given_labels_override_the_threshold() -> None:
    m = binary_metrics([1, 0], [0.1, 0.1], predicted=[True, True])
    assert (m.precision, m.recall) == (0.5, 1.0)


def test_tied_scores_form_one_point_of_the_curve() -> None:
    precision, recall, thresholds = pr_curve([1, 0, 1, 0], [0.8, 0.8, 0.4, 0.1])
    assert thresholds.tolist() == [0.8, 0.4, 0.1]
    assert precision.tolist() == pytest.approx([0.5, 2 / 3, 0.5])
    assert recall.tolist() == [0.5, 1.0, 1.0]
    assert average_precision([1, 0, 1, 0], [0.8, 0.8, 0.4, 0.1]) == pytest.approx(
        0.5 * 0.5 + 0.5 * 2 / 3
    )
    assert math.isnan(average_precision([0, 0], [0.3, 0.4]))


def test_temperature_scaling_recovers_the_temperature_that_generated_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, 20000)
    labels = rng.random(20000) < 1 / (1 + np.exp(-logits / 2.5))  # true temperature 2.5
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.05)
    assert fit_temperature([1.0, 2.0], [True, True]) == 1.0  # one class: nothing to fit


def test_temperature_never_changes_the_ranking() -> None:
    logits = torch.tensor([3.0, -1.0, 0.5, 2.0])
    labels = [True, False, False, True]
    t = fit_temperature(logits, labels)
    calibrated = torch.sigmoid(logits / t)
    assert torch.equal(calibrated.argsort(), torch.sigmoid(logits).argsort())


def test_best_f1_threshold_sits_between_the_chosen_score_and_the_next() -> None:
    labels = [1, 1, 0, 1, 0, 0]
    probs = [0.95, 0.8, 0.6, 0.55, 0.3, 0.1]
    # F1 at cut 0.55 (3 tp, 1 fp) = 6/7, the best; next lower score is 0.3
    assert best_f1_threshold(labels, probs) == pytest.approx((0.55 + 0.3) / 2)
    assert best_f1_threshold([0, 0], [0.2, 0.9], default=0.42) == 0.42


# Nine scores, four harmful. Flagging from the top, cut-off by cut-off:
#   cut-off  0.9   0.8   0.7   0.6   0.5   0.4   0.3   0.2   0.1
#   P        1     1     2/3   3/4   3/5   1/2   4/7   1/2   4/9
#   R        1/4   1/2   1/2   3/4   3/4   3/4   1     1     1
#   F1       .400  .667  .571  .750  .667  .600  .727  .667  .615   best: 0.6
#   F2       .294  .556  .526  .750  .714  .682  .870  .833  .800   best: 0.3
#   F0.5     .625  .833  .625  .750  .625  .536  .625  .556  .500   best: 0.8
RULE_LABELS = [1, 1, 0, 1, 0, 0, 1, 0, 0]
RULE_SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ThresholdRule(), (0.6 + 0.5) / 2),  # best F1
        (ThresholdRule(beta=2.0), (0.3 + 0.2) / 2),  # recall weighs double: flag down to 0.3
        (ThresholdRule(beta=0.5), (0.8 + 0.7) / 2),  # precision weighs double
        (ThresholdRule(min_recall=0.5), (0.6 + 0.5) / 2),  # the F1 choice already has R 3/4
        (ThresholdRule(min_recall=0.8), (0.3 + 0.2) / 2),  # best F1 among R >= 0.8: 0.3 (.727)
        (ThresholdRule(beta=0.5, min_recall=0.7), (0.6 + 0.5) / 2),  # floor beats F0.5's 0.8
        (ThresholdRule(min_recall=1.0), (0.3 + 0.2) / 2),  # the highest cut-off with R = 1 wins
    ],
)
def test_threshold_rules_pick_the_cut_off_computed_by_hand(rule, expected) -> None:
    assert best_threshold(RULE_LABELS, RULE_SCORES, rule) == pytest.approx(expected)


def test_threshold_rule_ties_keep_the_highest_cut_off_and_bad_rules_are_refused() -> None:
    # the best F1, 2/3, is reached twice: at 0.8 (P 1, R 1/2) and at 0.2 (P 1/2, R 1)
    labels, scores = [1, 1, 0, 0, 0, 0, 1, 1], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert best_threshold(labels, scores) == pytest.approx((0.8 + 0.7) / 2)
    with pytest.raises(ValueError, match="beta must be > 0"):
        ThresholdRule(beta=0.0)


def test_the_response_threshold_rule_is_a_recipe_setting() -> None:
    from safealign.guard.mixture import MixtureTrainConfig

    config = load_config(
        MixtureTrainConfig,
        overrides={
            "encoder.response_threshold.beta": 2.0,
            "encoder.response_threshold.min_recall": 0.9,
        },
    )
    assert config.encoder.response_threshold == ThresholdRule(beta=2.0, min_recall=0.9)
    assert MixtureTrainConfig().encoder.response_threshold == ThresholdRule()  # best F1
    with pytest.raises(ConfigError) as error:
        load_config(MixtureTrainConfig, overrides={"encoder.response_threshold.min_recall": 1.5})
    assert "encoder.response_threshold: min_recall must be between 0 and 1 (0: no floor), " in str(
        error.value
    )


def test_category_thresholds_fall_back_without_enough_positives() -> None:
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.7, 0.1], [0.2, 0.9], [0.1, 0.3]])
    thresholds = category_thresholds(labels, probs, ["a", "b"], min_positives=2, default=0.5)
    assert thresholds["a"] == pytest.approx((0.7 + 0.2) / 2)
    assert thresholds["b"] == 0.5


def test_pos_weight_is_negatives_over_positives_among_known_labels() -> None:
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    weight = balanced_pos_weight(labels, mask)
    assert weight.tolist() == [3.0, 1.0]  # column 2: no known positive -> weight 1


def test_guard_loss_is_the_masked_mean_bce_by_hand() -> None:
    examples = [
        GuardExample(prompt="p1", prompt_harmful=True, categories=None),
        GuardExample(
            prompt="p2", response="r", prompt_harmful=False, response_harmful=True, categories=["A"]
        ),
    ]
    targets = example_targets(examples, ["A", "B"])
    assert targets["binary_mask"].tolist() == [[1, 0, 0], [1, 1, 0]]
    assert targets["categories_mask"][:, 0].tolist() == [0, 1]
    logits = {
        "binary": torch.tensor([[2.0, 5.0, 5.0], [1.0, -1.0, 5.0]]),
        "categories": torch.tensor([[9.0, 9.0], [0.0, 0.0]]),
        "severity": torch.zeros(2, 4),
    }

    def bce(z: float, y: float) -> float:
        p = 1 / (1 + math.exp(-z))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    prompt_head = (bce(2.0, 1) + bce(1.0, 0)) / 2
    response_head = bce(-1.0, 1)
    categories = (bce(0.0, 1) + bce(0.0, 0)) / 2  # only the second row's categories are known
    expected = prompt_head + response_head + categories
    assert float(guard_loss(logits, targets)) == pytest.approx(expected, rel=1e-5)
