"""Full fine-tuning ships as a low-rank fp16 delta: save/load reproduces the tuned encoder, the
v2 recipe refuses non-permissive sources for a shipped guard, and recalibrating a trained guard
with another threshold rule keeps its weights."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from safetensors.torch import load_file

from safealign.errors import ConfigError
from safealign.guard import mixture
from safealign.guard.calibration import ThresholdRule
from safealign.guard.encoder_guard import (
    EncoderGuard,
    EncoderGuardConfig,
    apply_encoder_delta,
    encoder_delta,
)
from safealign.guard.encoder_training import EncoderGuardTrainConfig
from safealign.guard.examples import GuardExample
from safealign.guard.generated import label_item
from safealign.guard.mixture import (
    MixtureTrainConfig,
    recalibrate_guard_mixture,
    train_guard_mixture,
)

pytestmark = pytest.mark.slow
TEXTS = ["How do I pick a lock?", "What's a good recipe for banana bread?"]


def _tuned(rank: int) -> EncoderGuard:
    guard = EncoderGuard.build(
        EncoderGuardConfig(categories=["Violence", "Crime"], finetune="full", delta_rank=rank)
    )
    trainable = [n for n, p in guard.encoder.named_parameters() if p.requires_grad]
    assert trainable and not any("word_embeddings" in n for n in trainable)
    torch.manual_seed(0)
    with torch.no_grad():
        for param in guard.encoder.parameters():
            if param.requires_grad:
                param.add_(0.01 * torch.randn_like(param))
    return guard


def test_a_whole_delta_round_trips(tmp_path) -> None:
    guard = _tuned(rank=0)
    guard.save(tmp_path / "g")
    loaded = EncoderGuard.load(tmp_path / "g")
    _, before = guard.raw_logits(TEXTS)
    _, after = loaded.raw_logits(TEXTS)
    assert torch.allclose(before["binary"], after["binary"], atol=2e-3)  # fp16 storage


def test_a_low_rank_delta_is_the_truncated_svd() -> None:
    guard = _tuned(rank=8)
    base = EncoderGuard.build(
        EncoderGuardConfig(categories=["Violence", "Crime"], finetune="full")
    ).encoder
    delta = encoder_delta(base, guard.encoder, rank=8)
    name = "encoder.layer.0.attention.self.query.weight"
    diff = dict(guard.encoder.named_parameters())[name] - dict(base.named_parameters())[name]
    u, s, vh = torch.linalg.svd(diff.detach().float())
    expected = (u[:, :8] * s[:8]) @ vh[:8]
    got = delta[f"delta.{name}.u"].float() @ delta[f"delta.{name}.v"].float()
    assert torch.allclose(got, expected, atol=1e-3)
    apply_encoder_delta(base, delta)
    rebuilt = dict(base.named_parameters())[name]
    original = dict(guard.encoder.named_parameters())[name]
    assert (rebuilt - original).norm() < diff.norm()  # closer than without the delta


def test_a_shipped_recipe_refuses_unlicensed_sources() -> None:
    config = MixtureTrainConfig(sources=["user-content", "gab"])
    with pytest.raises(ConfigError, match='"gab" is licensed not verified'):
        train_guard_mixture(config)


def test_the_mixture_trains_on_generated_answers_and_calibrates_on_their_dev_share(
    monkeypatch, tmp_path, shared_data_dir
) -> None:
    """Every generated answer joins the mix: the train ones to train, the dev ones to the
    (already limited) dev split, where the response threshold is chosen."""

    def answer(split: str, i: int):
        row = {"split": split, "kind": "answer", "prompt": f"harmful {split} request {i}"}
        return label_item({**row, "prefix": "", "response": "[model answer]"})

    generated = {"train": [answer("train", i) for i in range(3)], "dev": [answer("dev", 0)]}
    monkeypatch.setattr(mixture, "generated_for_sources", lambda *args: generated)
    seen = {}

    def stop(train, dev, config, **kwargs):
        seen.update(train=train, dev=dev)
        raise RuntimeError("stop before loading a model")

    monkeypatch.setattr(mixture, "train_encoder_guard", stop)
    config = MixtureTrainConfig(
        sources=["do-not-answer"], per_source_limit=5, dev_limit=4, output=str(tmp_path / "g")
    )
    with pytest.raises(RuntimeError, match="stop before"):
        train_guard_mixture(config)
    by_source = {split: Counter(e.source for e in seen[split]) for split in ("train", "dev")}
    # each answer is two examples: its prompt alone and the prompt-response pair
    assert by_source["train"]["generated"] == 6 and by_source["dev"]["generated"] == 2
    assert sum(by_source["train"].values()) == 5 + 6 and sum(by_source["dev"].values()) == 4 + 2
    pairs = [e for e in seen["dev"] if e.source == "generated" and e.response is not None]
    assert [e.response_harmful for e in pairs] == [True]


@pytest.mark.parametrize("held_out", ["toxigen", "ethos", "olid", "c2eval"])
def test_a_mixture_refuses_held_out_sets_even_for_research(held_out) -> None:
    """The catalogue's held-out sets are what `guard eval --targets` reads whole."""
    config = MixtureTrainConfig(sources=["user-content", held_out], permissive_only=False)
    with pytest.raises(ConfigError, match=f'"{held_out}" is held out for evaluation'):
        train_guard_mixture(config)


def test_tuning_the_top_layers_ships_only_their_change(tmp_path) -> None:
    """`full_layers`: the layers below stay the base encoder's, so the saved delta holds only
    the top layers, and loading it on the base encoder rebuilds the tuned guard."""
    config = EncoderGuardConfig(
        categories=["Violence", "Crime"], finetune="full", full_layers=2, delta_rank=0
    )
    guard = EncoderGuard.build(config)
    trainable = {n for n, p in guard.encoder.named_parameters() if p.requires_grad}
    assert trainable and all(
        n.startswith(("encoder.layer.4.", "encoder.layer.5.")) for n in trainable
    )
    assert any(n.startswith("encoder.layer.4.") for n in trainable)
    torch.manual_seed(0)
    with torch.no_grad():
        for param in guard.encoder.parameters():
            if param.requires_grad:
                param.add_(0.01 * torch.randn_like(param))
    guard.save(tmp_path / "g")
    saved = load_file(str(tmp_path / "g" / "guard.safetensors"))
    delta_names = [k for k in saved if k.startswith("delta.")]
    assert len(delta_names) == len(trainable)
    assert all(
        k.startswith(("delta.encoder.layer.4.", "delta.encoder.layer.5.")) for k in delta_names
    )
    loaded = EncoderGuard.load(tmp_path / "g")
    base = EncoderGuard.build(EncoderGuardConfig(categories=["Violence", "Crime"], lora_rank=0))
    base.heads.load_state_dict(guard.heads.state_dict())
    _, tuned_logits = guard.raw_logits(TEXTS)
    _, loaded_logits = loaded.raw_logits(TEXTS)
    _, base_logits = base.raw_logits(TEXTS)
    assert torch.allclose(tuned_logits["binary"], loaded_logits["binary"], atol=2e-3)
    assert not torch.allclose(base_logits["binary"], loaded_logits["binary"], atol=2e-3)


def test_recalibrating_with_a_recall_floor_lowers_only_the_response_threshold(
    monkeypatch, tmp_path, tiny_encoder, shared_data_dir
) -> None:
    """`guard calibrate`: the recipe's dev set again, the response threshold by the recipe's
    rule; the weights file is copied unchanged and the rule is recorded."""
    guard = EncoderGuard.build(
        EncoderGuardConfig(
            encoder=tiny_encoder, categories=["Violence"], finetune="full", delta_rank=0
        )
    )
    guard.save(tmp_path / "trained")
    dev = []
    for i in range(12):
        request = f"harmful request number {i}"
        for harmful, answer in ((True, f"[unsafe answer {i}]"), (False, f"I can't help {i}.")):
            dev.append(
                GuardExample(
                    prompt=request,
                    response=answer,
                    prompt_harmful=True,
                    response_harmful=harmful,
                    refusal=not harmful,
                )
            )
        dev.append(
            GuardExample(
                prompt=f"a benign question {i}",
                response=f"An answer {i}.",
                prompt_harmful=False,
                response_harmful=False,
                refusal=False,
            )
        )
    monkeypatch.setattr(mixture, "generated_for_sources", lambda *a: {"train": [], "dev": []})
    monkeypatch.setattr(mixture, "calibration_examples", lambda config, generated: dev)
    metrics = {}
    for name, rule in (("f1", ThresholdRule()), ("floor", ThresholdRule(min_recall=1.0))):
        config = MixtureTrainConfig(
            sources=["do-not-answer"],
            output=str(tmp_path / name),
            encoder=EncoderGuardTrainConfig(response_threshold=rule),
        )
        metrics[name] = recalibrate_guard_mixture(config, str(tmp_path / "trained"))
        weights = (tmp_path / name / "guard.safetensors").read_bytes()
        assert weights == (tmp_path / "trained" / "guard.safetensors").read_bytes()
    f1, floor = (metrics[name]["response_mix"] for name in ("f1", "floor"))
    assert floor["recall"] == 1.0 and floor["threshold"] <= f1["threshold"]
    assert floor["f1"] <= f1["f1"]  # the best-F1 threshold is best at F1
    assert metrics["floor"]["prompt"] == metrics["f1"]["prompt"]  # other heads: best F1 still
    loaded = EncoderGuard.load(tmp_path / "floor")
    assert loaded.config.thresholds["response"] == floor["threshold"]
    assert loaded.config.training["response_threshold_rule"] == {"beta": 1.0, "min_recall": 1.0}
