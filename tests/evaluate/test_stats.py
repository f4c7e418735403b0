"""Rates, intervals and agreement statistics against numbers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from safealign.evaluate.stats import agreement, fleiss_kappa, mean_of_rates_ci, rate_with_ci


def test_rate_counts_and_drops_unlabelled():
    rate = rate_with_ci([True, False, True, True, None])
    assert (rate.value, rate.count, rate.total) == (0.75, 3, 4)
    assert rate.low <= rate.value <= rate.high


def test_rate_of_constant_labels_has_a_degenerate_interval():
    rate = rate_with_ci([True] * 20)
    assert (rate.value, rate.low, rate.high) == (1.0, 1.0, 1.0)


def test_rate_of_nothing_is_none():
    rate = rate_with_ci([None, None])
    assert rate.value is None and rate.total == 0


def test_bootstrap_interval_matches_the_normal_approximation():
    labels = [True] * 120 + [False] * 280  # p = 0.3, n = 400
    rate = rate_with_ci(labels, resamples=4000)
    half_width = 1.96 * np.sqrt(0.3 * 0.7 / 400)  # 0.0449
    assert rate.low == pytest.approx(0.3 - half_width, abs=0.012)
    assert rate.high == pytest.approx(0.3 + half_width, abs=0.012)


def test_cluster_bootstrap_resamples_whole_groups():
    labels = [True] * 4 + [False] * 4
    clustered = rate_with_ci(labels, groups=["a"] * 4 + ["b"] * 4)
    independent = rate_with_ci(labels)
    # two groups: a resample holds a twice, b twice, or one of each -> rate 1, 0 or 0.5 only
    assert (clustered.low, clustered.high) == (0.0, 1.0)
    assert independent.high - independent.low < 1.0


def test_mean_of_rates_is_the_mean_over_keys():
    rate = mean_of_rates_ci(
        {10: [True, False], 20: [True, True]}, {10: ["a", "b"], 20: ["a", "b"]}, resamples=500
    )
    assert rate.value == pytest.approx(0.75)
    assert (rate.count, rate.total) == (3, 4)
    # resampling {a, a}: 1.0; {b, b}: (0 + 1) / 2 = 0.5; {a, b}: 0.75
    assert rate.low == pytest.approx(0.5) and rate.high == pytest.approx(1.0)


def test_agreement_by_hand():
    predicted = [True, True, False, False, True, False]
    reference = [True, False, False, False, True, True]
    # tp=2 fp=1 fn=1 tn=2; p_o = 4/6; p_e = (3*3 + 3*3) / 36 = 0.5; kappa = (2/3 - 1/2) / (1/2)
    result = agreement(predicted, reference)
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.cohen_kappa == pytest.approx(1 / 3)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 / 3)
    assert result.total == 6


def test_agreement_skips_missing_labels_and_rejects_empty():
    assert agreement([True, None, False], [True, True, None]).total == 1
    with pytest.raises(ValueError, match="no pair"):
        agreement([None], [True])


def test_fleiss_kappa_by_hand():
    votes = [[True, True, True], [True, True, False], [False, False, False], [True, False, False]]
    # per-item agreement 1, 1/3, 1, 1/3 -> mean 2/3; p_yes = 6/12 -> p_e = 0.5; kappa = 1/3
    assert fleiss_kappa(votes) == pytest.approx(1 / 3)
    assert fleiss_kappa([[True, None, True]]) is None
