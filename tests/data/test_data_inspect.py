"""inspect_samples counts and render_summary prints them."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from safealign.data import inspect_samples, load_samples, pair_key_text, render_summary

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def test_counts_on_pair_data():
    summary = inspect_samples(load_samples(FIXTURES / "pku_saferlhf.jsonl"))
    assert (summary.rows, summary.pairs, summary.responses) == (3, 3, 6)
    assert (summary.responses_safe, summary.responses_unsafe) == (4, 2)
    assert summary.prompts_unknown == 3
    assert summary.pair_labels == {
        (False, True, 0, 1): 1,
        (True, True, 0, 0): 1,
        (True, False, 1, 0): 1,
    }
    assert summary.severity == {0: 4, 2: 1, 1: 1}
    assert summary.categories["Cybercrime"] == 1
    assert summary.taxonomies == {"pku-saferlhf": 3}


def test_counts_on_prompt_data():
    summary = inspect_samples(load_samples(FIXTURES / "xstest_v2_completions_fixturemodel.csv"))
    assert (summary.prompts_harmful, summary.prompts_benign) == (1, 2)
    assert (summary.with_responses, summary.pairs, summary.refusals) == (3, 0, 2)
    assert summary.responses_unlabelled == 3


def test_pair_key_text():
    assert pair_key_text((False, True, 1, 0)) == "(F,T,1,0)"
    assert pair_key_text((None, True, None, 0)) == "(?,T,?,0)"


def test_render_summary_prints_tables():
    console = Console(record=True, width=100)
    result = load_samples(FIXTURES / "pku_saferlhf.jsonl")
    render_summary(inspect_samples(result), console)
    text = console.export_text()
    assert "pku_saferlhf.jsonl" in text and "(format pku-saferlhf)" in text
    assert "(F,T,0,1)" in text
    assert "Privacy Violation" in text
    assert "2 moderate" in text
