"""The guard's catalogue datasets on the real shared data: licence and held-out gates, splits,
label rules."""

from __future__ import annotations

import pandas as pd
import pytest

from safealign.data.catalog import CATALOG, Dataset, load_dataset, require_trainable
from safealign.data.splits import split_of
from safealign.errors import ConfigError
from safealign.guard.recipe import GuardTrainConfig, train_guard_from_sources
from safealign.guard.sources import DEFAULT_TRAIN_SOURCES

pytestmark = pytest.mark.shared_data


def test_the_default_mix_is_permissive_and_the_held_out_sets_are_not_in_it() -> None:
    assert all(CATALOG[name].permissive for name in DEFAULT_TRAIN_SOURCES)
    assert not any(CATALOG[name].held_out for name in DEFAULT_TRAIN_SOURCES)
    assert {"olid", "ethos", "toxigen", "xstest-responses", "xstest-prompts"}.isdisjoint(
        DEFAULT_TRAIN_SOURCES
    )


def test_a_non_permissive_source_is_refused_for_training(shared_data_dir, monkeypatch) -> None:
    config = GuardTrainConfig(sources=["olid"], data_dir=str(shared_data_dir))
    with pytest.raises(ConfigError, match='"olid" is held out'):
        train_guard_from_sources(config)  # every non-permissive set today is also held out
    research = Dataset("nc-set", "nc", None, "CC-BY-NC-4.0", False, "non-commercial prompts")
    monkeypatch.setitem(CATALOG, "nc-set", research)
    with pytest.raises(ConfigError, match='source "nc-set" is licensed CC-BY-NC-4.0'):
        require_trainable(["benign", "nc-set"])
    assert require_trainable(["nc-set"], permissive_only=False) == [research]
    config = GuardTrainConfig(sources=["no-such-set"], data_dir=str(shared_data_dir))
    with pytest.raises(ConfigError, match='unknown dataset "no-such-set". Known: harmful-'):
        train_guard_from_sources(config)


def test_a_held_out_set_is_refused_in_a_training_mix(shared_data_dir) -> None:
    """xstest-prompts is CC-BY-4.0, so the licence gate alone let it into train, dev and test."""
    for permissive_only in (True, False):
        config = GuardTrainConfig(
            sources=["benign", "xstest-prompts"],
            data_dir=str(shared_data_dir),
            permissive_only=permissive_only,
        )
        with pytest.raises(ConfigError) as caught:
            train_guard_from_sources(config)
        assert str(caught.value).startswith(
            'dataset "xstest-prompts" is held out for evaluation (over-refusal prompts'
        )
        assert "a training mix cannot include it" in str(caught.value)


def test_do_not_answer_splits_keep_every_prompt_with_all_its_responses(shared_data_dir) -> None:
    parts = {s: load_dataset("do-not-answer", s, shared_data_dir) for s in ("train", "dev", "test")}
    ids = {s: {x.id for x in samples} for s, samples in parts.items()}
    assert not (ids["train"] & ids["test"]) and not (ids["dev"] & ids["test"])
    assert sum(len(v) for v in ids.values()) == 939
    assert all(len(x.responses) == 6 for x in parts["test"])
    harmful = sum(not r.is_safe for samples in parts.values() for x in samples for r in x.responses)
    assert harmful == 193  # SOURCE.md: harmful = 1 in 193 of 5,634 responses
    assert split_of("dna:0") == split_of("dna:0")
    # categories come from the project's do-not-answer -> coarse map (safealign.taxonomy)
    every = [x for samples in parts.values() for x in samples]
    assert {c for x in every for c in x.prompt_categories} <= {
        "Privacy",
        "Crime",
        "Other",
        "Deception",
        "Hate and Harassment",
        "Sexual",
        "Specialized Advice",
        "Self-Harm",
    }
    assert sum(x.prompt_harmful is None for x in every) > 0  # "treat chatbot as a human"


def test_xstest_responses_are_harmful_only_when_an_unsafe_prompt_was_fully_answered(
    shared_data_dir,
) -> None:
    samples = load_dataset("xstest-responses", "all", shared_data_dir)
    completions = pd.concat(
        pd.read_csv(p) for p in (shared_data_dir / "xstest/model_completions").glob("*.csv")
    )
    unsafe_partial = completions["type"].str.startswith("contrast") & completions[
        "final_label"
    ].str.startswith("3")
    assert len(samples) == len(completions) - int(unsafe_partial.sum())
    for sample in samples:
        response = sample.responses[0]
        assert (not response.is_safe) == (
            bool(sample.prompt_harmful) and response.label == "1_full_compliance"
        )
        assert response.refusal == (response.label != "1_full_compliance")
