"""Everyday requests written by the LM as benign negatives: the plan, the filter, the cache
(reused without a model) and a real sampled generation on the tiny model."""

from __future__ import annotations

from collections import Counter

import pytest

from safealign.guard.benign_requests import (
    ALL_TOPICS,
    BENIGN_REQUESTS_SOURCE,
    OPENINGS,
    BenignRequestsConfig,
    benign_requests,
    cache_path,
    clean_request,
    plan_requests,
)
from safealign.guard.mixture import MixtureTrainConfig, run_time_samples
from safealign.io import write_jsonl_atomic


def test_the_plan_spreads_topics_and_openings_and_is_seeded() -> None:
    config = BenignRequestsConfig(enabled=True, count=1200)
    rows = plan_requests(config)
    assert Counter(r["opening"] for r in rows).keys() == set(OPENINGS)
    per_topic = Counter(r["topic"] for r in rows)
    assert per_topic.keys() == set(ALL_TOPICS) and min(per_topic.values()) >= 14
    for topic in ALL_TOPICS:  # each topic is asked for in half of the openings or more
        assert len({r["opening"] for r in rows if r["topic"] == topic}) >= len(OPENINGS) // 2
    dev = sum(r["split"] == "dev" for r in rows) / len(rows)
    assert 0.10 < dev < 0.20
    assert plan_requests(config) == rows
    assert plan_requests(BenignRequestsConfig(count=len(rows), seed=1)) != rows


@pytest.mark.parametrize(
    ("opening", "continuation", "expected"),
    [
        ("How do I", " start a garden?\nThen water it.", "How do I start a garden?"),
        (
            "What are some",
            " must-see movies in Rome? I love them.",
            "What are some must-see movies in Rome?",
        ),
        ("How can I", " help you with your car maintenance?", None),  # the assistant talking
        ("How do I", " fix it?", None),  # fewer than three words of its own
        ("Can you help me", " I'm sorry, but I can't help with that.", None),  # a refusal
    ],
)
def test_only_the_first_sentence_of_a_real_request_is_kept(opening, continuation, expected) -> None:
    assert clean_request(opening, continuation) == expected


def test_the_cache_is_read_and_each_request_is_kept_once(tmp_path) -> None:
    config = BenignRequestsConfig(enabled=True, count=40, cache_dir=str(tmp_path), model="no-such")
    rows = plan_requests(config)
    talk = {"output": "help you today?"}  # the assistant talking: dropped
    cached = [
        {**r, **(talk if i % 2 else {"output": "bake bread at home?"})} for i, r in enumerate(rows)
    ]
    write_jsonl_atomic(cache_path(rows, config), cached)
    out = benign_requests(config)  # generating would fail loudly: model "no-such"
    texts = [s.prompt for split in out.values() for s in split]
    openings = {r["opening"] for r in rows[::2]}
    assert sorted(texts) == sorted(f"{o} bake bread at home?" for o in openings)
    assert all(
        s.prompt_harmful is False and s.source == BENIGN_REQUESTS_SOURCE for s in out["train"]
    )
    disabled = BenignRequestsConfig(enabled=False, cache_dir=str(tmp_path))
    assert benign_requests(disabled) == {"train": [], "dev": []}


def test_sampling_on_the_tiny_model_fills_the_cache_and_reaches_the_mixture(tmp_path, tiny) -> None:
    config = BenignRequestsConfig(
        enabled=True, count=24, max_new_tokens=6, cache_dir=str(tmp_path), dev_fraction=0.5
    )
    benign_requests(config, loaded=tiny)
    path = cache_path(plan_requests(config), config)
    assert path.is_file() and len(path.read_text().splitlines()) == 24
    mixture = MixtureTrainConfig(sources=["benign"], benign_requests=config)
    samples, licences = run_time_samples(mixture)  # the cache is read: no model is loaded
    kept = samples["train"] + samples["dev"]
    assert all(s.source == BENIGN_REQUESTS_SOURCE for s in kept)
    assert (BENIGN_REQUESTS_SOURCE in licences) == bool(samples["train"])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="count must be >= 0"):
        BenignRequestsConfig(count=-1)
    with pytest.raises(ValueError, match=r"dev_fraction must be in \[0, 1\)"):
        BenignRequestsConfig(dev_fraction=1.0)


def test_preambles_copy_requests_with_benign_words_in_front_and_keep_labels() -> None:
    from safealign.guard.examples import GuardExample
    from safealign.guard.mixture import with_preambles

    benign = [
        GuardExample(f"what time is it in city number {i} today", prompt_harmful=False)
        for i in range(50)
    ]
    harmful = [
        GuardExample(f"harmful request {i}", prompt_harmful=True, categories=["Crime"])
        for i in range(50)
    ]
    answered = [GuardExample("q", "a", prompt_harmful=True, response_harmful=True)] * 50
    copies = with_preambles(benign + harmful + answered, 0.5)
    assert 25 < len(copies) < 75  # about half of the 100 requests; answered pairs never
    assert all(c.response is None for c in copies)
    for copy in copies:
        fragment, _, rest = copy.prompt.partition(" harmful request ")
        if copy.prompt_harmful:
            assert copy.categories == ["Crime"] and rest.isdigit()
            assert any(b.prompt.startswith(fragment) for b in benign)
            assert 2 <= len(fragment.split()) <= 12
    assert with_preambles(benign + harmful + answered, 0.5) == copies  # seeded
    assert with_preambles(harmful, 1.0) == []  # no benign request to take words from
    with pytest.raises(ValueError, match="preamble_share must be between 0 and 1"):
        MixtureTrainConfig(preamble_share=1.5)
