"""Response harm as "complies with a harmful request": the product rule and the fitted,
sign-constrained combination, checked against numbers computed by hand; severity by rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from safealign.guard.calibration import (
    MIX_FEATURES,
    fit_response_mix,
    mix_features,
    mix_logit,
)
from safealign.guard.encoder_guard import EncoderGuardConfig, response_probability
from safealign.guard.metrics import average_precision
from safealign.guard.severity import rule_severity


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_product_rule_by_hand() -> None:
    config = EncoderGuardConfig(
        response_rule="product", temperatures={"prompt": 2.0, "response": 1.0, "refusal": 0.5}
    )
    binary = torch.tensor([[2.0, -9.0, -1.0], [-4.0, 9.0, 3.0]])  # prompt, response, refusal
    expected = [
        _sigmoid(2.0 / 2) * (1 - _sigmoid(-1.0 / 0.5)),
        _sigmoid(-4.0 / 2) * (1 - _sigmoid(3.0 / 0.5)),
    ]
    assert response_probability(binary, config).tolist() == pytest.approx(expected)


def test_mix_features_and_logit_by_hand() -> None:
    features = mix_features(torch.tensor([1.0]), torch.tensor([-2.0]), torch.tensor([0.5]))
    product = math.log(_sigmoid(1.0)) + math.log(_sigmoid(2.0))
    assert features[0].tolist() == pytest.approx([1.0, -2.0, 0.5, product])
    mix = {"prompt": 0.5, "refusal": -1.0, "response": 2.0, "product": 1.0, "bias": -0.25}
    expected = 0.5 * 1.0 + (-1.0) * (-2.0) + 2.0 * 0.5 + product - 0.25
    assert float(mix_logit(features, mix)[0]) == pytest.approx(expected)


def test_the_fit_learns_harmful_means_harmful_request_and_no_refusal() -> None:
    rng = np.random.default_rng(0)
    n = 600
    harmful_request = rng.random(n) < 0.5
    refused = rng.random(n) < 0.5
    labels = harmful_request & ~refused
    z_p = torch.tensor(np.where(harmful_request, 2.0, -2.0) + rng.normal(0, 1, n))
    z_r = torch.tensor(np.where(refused, 2.0, -2.0) + rng.normal(0, 1, n))
    z_s = torch.tensor(rng.normal(0, 1, n))  # an uninformative response head
    mix = fit_response_mix(mix_features(z_p, z_r, z_s), labels)
    assert set(mix) == {*MIX_FEATURES, "bias"}
    assert mix["prompt"] >= 0 and mix["refusal"] <= 0 and mix["product"] >= 0
    assert abs(mix["response"]) < 0.3  # noise gets (almost) no weight
    probs = torch.sigmoid(mix_logit(mix_features(z_p, z_r, z_s), mix)).numpy()
    assert average_precision(labels, probs) > 0.9
    # calibrated: the mean probability matches the base rate
    assert probs.mean() == pytest.approx(labels.mean(), abs=0.03)


def test_the_signs_hold_even_when_the_data_say_otherwise() -> None:
    z = torch.linspace(-3, 3, 50)
    labels = (z < 0).numpy()  # harm falls as the prompt logit rises: an inverse rule
    with torch.inference_mode():  # as inside calibrate()
        mix = fit_response_mix(mix_features(z, torch.zeros(50), torch.zeros(50)), labels)
    assert mix["prompt"] >= 0 and mix["product"] >= 0


@pytest.mark.parametrize(
    ("probability", "flagged", "categories", "expected"),
    [
        (0.2, ["Weapons"], {"Weapons": 0.9}, 0),  # below the threshold: safe
        (0.95, ["Weapons", "Deception"], {"Weapons": 0.9, "Deception": 0.8}, 3),  # worst wins
        (0.95, [], {"Deception": 0.6, "Crime": 0.4}, 1),  # none flagged: best-scoring category
        (0.95, ["Crime"], {"Crime": 0.9}, 2),
        (0.6, ["Crime"], {"Crime": 0.9}, 1),  # borderline (< (0.4 + 1) / 2): one level milder
        (0.6, ["Deception"], {"Deception": 0.9}, 1),  # never below minor
        (0.95, [], {}, 2),  # no categories scored: moderate
        (0.95, ["Not a coarse class"], {"Not a coarse class": 0.9}, 2),
    ],
)
def test_rule_severity(probability, flagged, categories, expected) -> None:
    assert rule_severity(probability, 0.4, categories, flagged) == expected
