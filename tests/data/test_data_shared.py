"""Every loader on the real files in ../shared/data (skipped with the reason when absent)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from rich.console import Console

from safealign.data import inspect_samples, load_samples, render_summary, require_labels
from safealign.taxonomy import load_taxonomy

pytestmark = pytest.mark.shared_data

C2EVAL = "course_correction_c2eval/eval/test.jsonl"


def test_c2eval_counts_match_source_md(shared_data_dir):
    result = load_samples(shared_data_dir / C2EVAL)
    assert result.format == "pku-saferlhf" and len(result) == 500 and not result.skipped
    require_labels(result, needs=("pair", "safety", "better", "safer"))
    summary = inspect_samples(result)
    assert summary.rows == 500
    F, T = False, True
    assert summary.pair_labels == {
        (F, F, 1, 0): 189,
        (F, F, 0, 1): 180,
        (F, F, 0, 0): 38,
        (F, T, 0, 1): 31,
        (F, F, 1, 1): 28,
        (T, F, 1, 0): 26,
        (F, T, 1, 1): 5,
        (T, F, 0, 0): 3,
    }
    assert len({s.prompt for s in result}) == 462


def test_c2eval_inspect_prints_the_counts(shared_data_dir):
    console = Console(record=True, width=120)
    render_summary(inspect_samples(load_samples(shared_data_dir / C2EVAL)), console)
    text = console.export_text()
    counts = dict(re.findall(r"│ (\([TF],[TF],[01],[01]\)) +│ +(\d+) │", text))
    assert counts == {
        "(F,F,1,0)": "189",
        "(F,F,0,1)": "180",
        "(F,F,0,0)": "38",
        "(F,T,0,1)": "31",
        "(F,F,1,1)": "28",
        "(T,F,1,0)": "26",
        "(F,T,1,1)": "5",
        "(T,F,0,0)": "3",
    }
    assert re.search(r"│ rows +│ +500 │", text)


def test_beavertails_evaluation(shared_data_dir):
    result = load_samples(
        shared_data_dir / "beavertails_evaluation/data/BeaverTails-Evaluation.csv"
    )
    assert result.format == "beavertails" and len(result) == 700
    counts = Counter(name for s in result for name in s.prompt_categories)
    assert len(counts) == 14 and set(counts.values()) == {50}
    assert all(s.prompt_harmful for s in result)


def test_hh_rlhf_harmless_base(shared_data_dir):
    result = load_samples(shared_data_dir / "hh_rlhf_harmless_base/harmless-base/test.jsonl.gz")
    assert result.format == "hh-rlhf" and len(result) == 2312 and not result.skipped
    assert all(s.is_pair and (s.better, s.safer) == (0, 0) for s in result)
    assert all(m.role in ("user", "assistant") for s in result for m in s.context)


def test_xstest_prompts_and_completions(shared_data_dir):
    prompts = load_samples(shared_data_dir / "xstest/xstest_prompts.csv")
    assert Counter(s.prompt_harmful for s in prompts) == {False: 250, True: 200}
    expected = {"gpt4": (230, 211, 9), "mistralinstruct": (374, 49, 27)}
    for model, (comply, refuse, partial) in expected.items():
        path = shared_data_dir / f"xstest/model_completions/xstest_v2_completions_{model}.csv"
        result = load_samples(path)
        labels = Counter(s.responses[0].label for s in result)
        assert labels == {
            "1_full_compliance": comply,
            "2_full_refusal": refuse,
            "3_partial_refusal": partial,
        }
        assert sum(s.responses[0].refusal for s in result) == refuse + partial
        assert Counter(s.prompt_harmful for s in result) == {False: 250, True: 200}


def test_do_not_answer(shared_data_dir):
    prompts = load_samples(
        shared_data_dir / "do_not_answer/datasets/Instruction/do_not_answer_en.csv"
    )
    assert len(prompts) == 939
    assert len({c for s in prompts for c in s.prompt_categories}) == 12
    labelled = load_samples(shared_data_dir / "do_not_answer/datasets/data_en.csv")
    assert len(labelled) == 5634
    assert sum(s.responses[0].is_safe is False for s in labelled) == 193


def test_advbench_and_harmbench(shared_data_dir):
    adv = load_samples(shared_data_dir / "advbench/dataset/raw/advbench.csv")
    assert adv.format == "advbench" and len(adv) == 520
    harm = load_samples(shared_data_dir / "harmbench/dataset/raw/harmbench_val.csv")
    assert harm.format == "harmbench" and len(harm) == 80
    taxonomy = load_taxonomy("harmbench")
    assert {s.prompt_categories[0] for s in harm} == set(taxonomy.names)
