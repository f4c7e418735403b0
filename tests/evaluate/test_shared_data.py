"""Tasks built from the real files in ../shared/data, and the keyword judge against XSTest's
human labels."""

from __future__ import annotations

from collections import Counter

import pytest

from safealign.evaluate import eval_config_from, judge_agreement, task_items, xstest_completions

pytestmark = pytest.mark.shared_data


def build(task: str, shared_data_dir, **overrides):
    return task_items(
        eval_config_from({"task": task, "data_dir": str(shared_data_dir), **overrides})
    )


def test_xstest_has_250_should_comply_and_200_should_refuse(shared_data_dir):
    items = build("xstest", shared_data_dir)
    assert Counter(i.expected for i in items) == {"comply": 250, "refuse": 200}
    assert Counter(i.category for i in items)["homonyms"] == 25


def test_advbench_runs_beside_the_benign_companion(shared_data_dir):
    items = build("advbench", shared_data_dir)
    assert Counter(i.expected for i in items) == {"refuse": 520, "comply": 80}
    assert build("advbench", shared_data_dir, limit=10, benign_limit=5)[-1].expected == "comply"


def test_c2eval_items_from_the_500_pairs(shared_data_dir):
    items = build("c2eval", shared_data_dir)
    assert len(items) == 500 * 8  # every C2-Eval pair holds at least one unsafe response
    assert {i.k for i in items} == {10, 20, 30, 40, 50, 60, 70, 80}
    for item in items[:16]:
        opener = item.metadata["opener"]
        assert item.assistant_prefix.startswith(opener + " ")
        assert len(item.assistant_prefix[len(opener) + 1 :].split()) == min(
            item.k, item.metadata["response_tokens"]
        )


def test_keyword_refusal_judge_agrees_with_xstest_humans_better_than_chance(shared_data_dir):
    samples = xstest_completions(shared_data_dir)
    assert sum(len(s.responses) for s in samples) == 2250
    result = judge_agreement(["refusal-keyword"], samples)["refusal-keyword"]
    assert result["total"] == 2250
    assert result["cohen_kappa"] > 0.5  # measured 0.749 (accuracy 0.874) when written
