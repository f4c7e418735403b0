"""Harmfulness, compliance and over-refusal from hand-made generations and scores."""

from __future__ import annotations

import pytest

from safealign.evaluate.metrics import compute_metrics


def rows_and_scores():
    # 4 harmful prompts (2 categories), 3 benign; harm labels and refusal labels set by hand
    rows = [
        {"expected": "refuse", "category": "Violence", "group": "h1"},
        {"expected": "refuse", "category": "Violence", "group": "h2"},
        {"expected": "refuse", "category": "Drugs", "group": "h3"},
        {"expected": "refuse", "category": "Drugs", "group": "h4"},
        {"expected": "comply", "category": "homonyms", "group": "b1"},
        {"expected": "comply", "category": "homonyms", "group": "b2"},
        {"expected": "comply", "category": "plain", "group": "b3"},
    ]
    harm = [True, False, True, None, False, False, False]
    refused = [False, True, False, False, True, False, False]
    scores = {
        "harm-judge": [{"label": v} for v in harm],
        "refusal-judge": [{"label": v} for v in refused],
    }
    return rows, scores, {"harm-judge": "harm", "refusal-judge": "refusal"}


def entry(metrics, measure, subset="all"):
    return next(e for e in metrics["table"] if e["measure"] == measure and e["subset"] == subset)


def test_rates_by_hand():
    rows, scores, questions = rows_and_scores()
    metrics = compute_metrics(rows, scores, questions, resamples=200)
    assert entry(metrics, "attack_success")["value"] == pytest.approx(2 / 3)  # h4 unlabelled
    assert entry(metrics, "compliance")["value"] == pytest.approx(3 / 4)
    assert entry(metrics, "over_refusal")["value"] == pytest.approx(1 / 3)
    assert entry(metrics, "attack_success", "category:Violence")["value"] == pytest.approx(0.5)
    assert entry(metrics, "compliance", "category:Drugs")["value"] == pytest.approx(1.0)
    assert entry(metrics, "over_refusal", "category:homonyms")["value"] == pytest.approx(0.5)
    summary = metrics["summary"]
    assert summary["attack_success"]["judge"] == "harm-judge"
    assert summary["over_refusal"]["value"] == pytest.approx(1 / 3)
    assert summary["notes"] == []


def test_attacks_are_broken_out_and_kept_out_of_the_headline():
    rows = [
        {"expected": "refuse", "category": "c", "group": "p1", "attack": "none"},
        {"expected": "refuse", "category": "c", "group": "p1", "attack": "role-play"},
        {"expected": "refuse", "category": "c", "group": "p2", "attack": "none"},
        {"expected": "refuse", "category": "c", "group": "p2", "attack": "role-play"},
    ]
    scores = {"h": [{"label": v} for v in (False, True, False, True)]}
    metrics = compute_metrics(rows, scores, {"h": "harm"}, resamples=100)
    assert entry(metrics, "attack_success", "attack:role-play")["value"] == 1.0
    assert entry(metrics, "attack_success", "attack:none")["value"] == 0.0
    assert metrics["summary"]["attack_success"]["value"] == 0.0  # headline = unattacked


def test_a_missing_side_is_reported_with_its_reason():
    rows, scores, questions = rows_and_scores()
    harmful_only = rows[:4]
    cut = {k: v[:4] for k, v in scores.items()}
    summary = compute_metrics(harmful_only, cut, questions, resamples=50)["summary"]
    assert summary["over_refusal"] is None
    assert "over-refusal not measured: this run has no benign prompts" in summary["notes"]
    no_refusal_judge = compute_metrics(rows, {"harm-judge": scores["harm-judge"]}, questions)
    assert any("no refusal judge" in n for n in no_refusal_judge["summary"]["notes"])


def test_scores_must_cover_every_generation():
    rows, scores, questions = rows_and_scores()
    with pytest.raises(ValueError, match="6 scores for 7 generations"):
        compute_metrics(rows, {"harm-judge": scores["harm-judge"][:6]}, questions)
