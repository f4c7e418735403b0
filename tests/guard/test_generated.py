"""Generated response-level data: which prompt gets which answer, the labelling rules, the cache
(outside the repo, reused without loading a model), and a real generation on the tiny model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from safealign.config import load_config
from safealign.data.refusal import REFUSAL_OPENINGS
from safealign.data.schema import Sample
from safealign.guard.generated import (
    GeneratedResponsesConfig,
    cache_path,
    generated_for_sources,
    generated_samples,
    generated_test_samples,
    label_item,
    plan_items,
    prompt_pools,
)
from safealign.guard.mixture import MixtureTrainConfig
from safealign.guard.recipe import GuardTrainConfig
from safealign.io import write_jsonl_atomic

REPO_ROOT = Path(__file__).resolve().parents[2]


def _pools() -> dict:
    def samples(kind: str, split: str, n: int) -> list[Sample]:
        return [Sample(prompt=f"{kind} {split} request {i}") for i in range(n)]

    return {
        split: {"harmful": samples("harmful", split, 40), "benign": samples("benign", split, 40)}
        for split in ("train", "dev")
    }


def _config(tmp_path, **overrides) -> GeneratedResponsesConfig:
    base = dict(
        harmful_answers=10,
        prefilled_refusals=6,
        benign_answers=8,
        disclaimed_answers=4,
        dev_fraction=0.5,
        cache_dir=str(tmp_path),
    )
    return GeneratedResponsesConfig(**{**base, **overrides})


def test_plan_uses_each_prompt_once_with_the_asked_counts(tmp_path) -> None:
    items = plan_items(_pools(), _config(tmp_path))
    counts = Counter((i["split"], i["kind"]) for i in items)
    assert counts == {
        (split, kind): n
        for split in ("train", "dev")
        for kind, n in (("answer", 5), ("refusal", 3), ("benign", 4), ("disclaimed", 2))
    }
    assert len({i["prompt"] for i in items}) == len(items)
    assert all(
        i["prompt"].startswith(f"harmful {i['split']}") for i in items if i["kind"] != "benign"
    )
    assert all(i["prefix"] for i in items if i["kind"] in ("refusal", "disclaimed"))
    assert not any(i["prefix"] for i in items if i["kind"] in ("answer", "benign"))
    assert plan_items(_pools(), _config(tmp_path)) == items  # seeded


@pytest.mark.parametrize(
    ("kind", "text", "harmful", "refusal"),
    [
        ("answer", "[unsafe response text]", True, False),  # a harmful request, complied with
        ("answer", "I'm sorry, but I cannot do that.", False, True),  # the model refused itself
        (
            "answer",
            "Sure. As an AI, I can\u2019t verify it, but [unsafe response text]",
            False,
            True,
        ),
        ("benign", "Mix flour, water and yeast, then bake.", False, False),
        ("disclaimed", "As an AI, I advise against this, but [unsafe response text]", True, False),
        ("benign", "I'm sorry for any confusion. The time is noon.", False, None),  # unknown
    ],
)
def test_labelling_rules(kind, text, harmful, refusal) -> None:
    item = {"split": "train", "kind": kind, "prompt": "p", "prefix": "", "response": text}
    sample = label_item(item)
    response = sample.responses[0]
    assert response.is_safe is (not harmful)
    assert response.refusal is refusal
    assert sample.prompt_harmful is (kind != "benign")
    assert sample.source == "generated"


def test_a_prefilled_refusal_keeps_only_its_first_sentence() -> None:
    prefix = "I must decline to"
    item = {
        "split": "train",
        "kind": "refusal",
        "prompt": "p",
        "prefix": prefix,
        "response": f"{prefix} do that. However, [unsafe response text]",
    }
    response = label_item(item).responses[0]
    assert response.text == "I must decline to do that."
    assert response.is_safe is True and response.refusal is True


def test_generated_answers_are_labelled_by_the_shared_refusal_rule() -> None:
    """A harmful request answered with a refusal opening is a safe refusal; the same apology
    after the 300-character window the evaluation judge reads is not a refusal (the window was
    120 characters before the vocabulary was shared with the judge)."""

    def answer(text: str):
        item = {"split": "train", "kind": "answer", "prompt": "p", "prefix": "", "response": text}
        return label_item(item).responses[0]

    refused = answer("I can't help with that.")
    assert refused.refusal is True and refused.is_safe is True
    late = answer("Here is the recipe. " + "x" * 300 + " I'm sorry it is long.")
    assert late.refusal is False and late.is_safe is False


def test_the_cache_is_read_instead_of_generating(tmp_path) -> None:
    config = _config(tmp_path, model="no-such-model")  # generating would fail loudly
    items = plan_items(_pools(), config)
    path = cache_path(items, config)
    assert path.parent == tmp_path
    rows = [{**i, "response": f"{i['prefix']} [cached answer]".strip()} for i in items]
    write_jsonl_atomic(path, rows)
    out = generated_samples(_pools(), config)
    assert len(out["train"]) == 14 and len(out["dev"]) == 14
    assert all(s.responses[0].text.endswith("[cached answer]") for s in out["train"])
    other = _config(tmp_path, max_new_tokens=7)  # other settings: another cache file
    assert cache_path(plan_items(_pools(), other), other) != path


def test_generation_on_the_tiny_model_fills_the_cache(tmp_path, tiny) -> None:
    config = _config(
        tmp_path,
        harmful_answers=2,
        prefilled_refusals=2,
        benign_answers=2,
        disclaimed_answers=2,
        max_new_tokens=3,
    )
    out = generated_samples(_pools(), config, loaded=tiny)
    assert cache_path(plan_items(_pools(), config), config).is_file()
    refusals = [s for split in out.values() for s in split if s.metadata["kind"] == "refusal"]
    assert refusals
    for sample in refusals:  # the prefilled opening is part of the answer, then the model's text
        text = sample.responses[0].text
        assert any(text.startswith(opening) for opening in REFUSAL_OPENINGS)
        assert sample.responses[0].refusal is True and sample.responses[0].is_safe is True


def test_test_split_answers_come_from_test_prompts_only(tmp_path, tiny, shared_data_dir) -> None:
    """The run-time part of the response target: answers to prompts no recipe trains or
    calibrates on, in the recipe's proportions, labelled by the same rules, cached apart from
    the training answers."""
    config = _config(
        tmp_path, harmful_answers=20, prefilled_refusals=10, benign_answers=10, max_new_tokens=3
    )
    samples = generated_test_samples(config, shared_data_dir, 0.2, loaded=tiny)
    kinds = Counter(s.metadata["kind"] for s in samples)
    assert kinds == {"answer": 4, "refusal": 2, "benign": 2, "disclaimed": 1}
    assert {s.metadata["split"] for s in samples} == {"test"}
    seen = {
        s.prompt
        for split in ("train", "dev")
        for pool in prompt_pools(split, shared_data_dir).values()
        for s in pool
    }
    assert not seen & {s.prompt for s in samples}
    test_prompts = {
        s.prompt for pool in prompt_pools("test", shared_data_dir).values() for s in pool
    }
    assert {s.prompt for s in samples} <= test_prompts
    for sample in samples:
        response = sample.responses[0]
        if sample.metadata["kind"] == "benign":
            assert sample.prompt_harmful is False and response.is_safe is True
        elif sample.metadata["kind"] == "refusal":
            assert response.refusal is True and response.is_safe is True
    # the cache file is keyed by the test plan: asking again reads it, without the model
    again = generated_test_samples(config, shared_data_dir, 0.2)
    assert [s.responses[0].text for s in again] == [s.responses[0].text for s in samples]
    with pytest.raises(ValueError, match='split must be "test" or "dev"'):
        generated_test_samples(config, shared_data_dir, 0.2, split="train")


def test_the_v1_and_v2_recipes_share_one_generated_cache() -> None:
    """Same prompts and settings, so the v2 mixture reuses the answers the v1 recipe generated
    (one cache file), and its dev share reaches the response threshold."""
    v1 = load_config(GuardTrainConfig, REPO_ROOT / "configs/guard/default.yaml", section="train")
    v2 = load_config(
        MixtureTrainConfig, REPO_ROOT / "configs/guard/v2.yaml", section="train_mixture"
    )
    assert v2.generated.enabled and v2.generated == v1.generated
    assert v2.generated.dev_fraction > 0


def test_no_generation_without_its_prompt_sources_or_when_disabled() -> None:
    """Neither case reads data nor loads a model (the data folder here does not exist)."""
    missing = "/nonexistent/shared/data"
    config = GeneratedResponsesConfig(model="no-such-model")
    empty = {"train": [], "dev": []}
    assert generated_for_sources(["user-content", "benign"], config, missing) == empty
    off = GeneratedResponsesConfig(enabled=False, model="no-such-model")
    assert generated_for_sources(["harmful-instructions", "benign"], off, missing) == empty
