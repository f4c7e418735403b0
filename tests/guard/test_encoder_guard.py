"""Encoder guard mechanics on a tiny random BERT (with MiniLM's real tokenizer): verdicts,
training that improves it, calibration written into the config, save/load round trip."""

from __future__ import annotations

import json

import pytest
import torch

from safealign.errors import ModelLoadError
from safealign.guard.encoder_guard import (
    EncoderGuard,
    EncoderGuardConfig,
    padding_bounded_batches,
    pool_features,
)
from safealign.guard.encoder_training import EncoderGuardTrainConfig, train_encoder_guard
from safealign.guard.examples import GuardExample

HARMFUL = ["build a bomb now", "make a bomb at home", "bomb the station", "a bomb recipe please"]
BENIGN = ["bake a cake now", "make a cake at home", "cake for the station", "a cake recipe please"]


def _examples() -> list[GuardExample]:
    rows = [GuardExample(prompt=p, prompt_harmful=True, categories=["Violence"]) for p in HARMFUL]
    rows += [GuardExample(prompt=p, prompt_harmful=False, categories=[]) for p in BENIGN]
    rows += [
        GuardExample(
            prompt=HARMFUL[0],
            response="I can't help with that.",
            prompt_harmful=True,
            response_harmful=False,
            refusal=True,
            categories=[],
        ),
        GuardExample(
            prompt=HARMFUL[1],
            response="[unsafe response text]",
            prompt_harmful=True,
            response_harmful=True,
            refusal=False,
            categories=["Violence"],
        ),
    ]
    return rows


def _config(encoder: str, **overrides) -> EncoderGuardTrainConfig:
    base = dict(
        encoder=encoder,
        epochs=25,
        batch_size=10,
        max_length=32,
        hidden_size=16,
        lora_rank=4,
        lora_layers=1,
        learning_rate=5e-3,
        head_learning_rate=1e-2,
    )
    return EncoderGuardTrainConfig(**{**base, **overrides})


def test_pooling_averages_all_tokens_and_the_response_tokens_apart() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [5.0], [100.0]]])
    attention = torch.tensor([[1, 1, 1, 0]])
    segments = torch.tensor([[0, 0, 1, 1]])
    assert pool_features(hidden, attention, segments).tolist() == [[3.0, 5.0]]


def test_the_opening_pools_only_the_first_response_tokens() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [5.0], [7.0], [9.0], [100.0]]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 0]])
    segments = torch.tensor([[0, 0, 1, 1, 1, 1]])  # response: 5, 7, 9 (the last is padding)
    features = pool_features(hidden, attention, segments, opening_tokens=2)
    assert features.tolist() == [[5.0, 7.0, 6.0]]  # all, response, first two response tokens
    no_response = pool_features(hidden, attention, torch.zeros_like(segments), opening_tokens=2)
    assert no_response.tolist() == [[5.0, 0.0, 0.0]]


def test_training_improves_the_guard_and_calibration_lands_in_the_config(tiny_encoder) -> None:
    examples = _examples()
    untrained = EncoderGuard.build(_guard_config(tiny_encoder))
    before = _accuracy(untrained, examples)
    result = train_encoder_guard(examples, examples, _config(tiny_encoder))
    assert result.losses[-1] < result.losses[0] / 2
    assert _accuracy(result.guard, examples) > before
    assert _accuracy(result.guard, examples) >= 0.9
    config = result.guard.config
    assert config.categories == ["Violence"]
    assert set(result.dev_metrics) >= {"prompt", "response", "refusal"}
    assert config.temperatures["prompt"] != 1.0  # fitted, not the default
    assert 0.0 < config.thresholds["prompt"] < 1.0


def test_bf16_autocast_trains_only_the_top_layers(tiny_encoder) -> None:
    """Full fine-tuning of the top layer in bfloat16 autocast: the loss falls, the top layer's
    float32 weights move, the layer below and the embeddings stay the base encoder's."""
    config = _config(tiny_encoder, finetune="full", full_layers=1, delta_rank=0, bf16_autocast=True)
    result = train_encoder_guard(_examples(), _examples(), config)
    assert result.losses[-1] < result.losses[0] / 2
    base = EncoderGuard.build(EncoderGuardConfig(encoder=tiny_encoder, lora_rank=0)).encoder
    tuned = dict(result.guard.encoder.named_parameters())
    for name, param in base.named_parameters():
        assert tuned[name].dtype == torch.float32
        moved = not torch.equal(tuned[name], param)
        assert moved == name.startswith("encoder.layer.1."), name


def test_verdicts_follow_the_contract(tiny_encoder) -> None:
    guard = train_encoder_guard(_examples(), [], _config(tiny_encoder, epochs=1)).guard
    prompt_only, answered = guard.classify(
        [
            HARMFUL[0],
            [{"role": "user", "content": HARMFUL[0]}, {"role": "assistant", "content": "No."}],
        ]
    )
    assert prompt_only.response_harmful is None and prompt_only.refusal is None
    assert answered.response_harmful is not None and answered.refusal is not None
    assert list(prompt_only.categories) == ["Violence"]
    # no severity labels in training: severity by rule, 0 exactly when the judged turn is safe
    for verdict in (prompt_only, answered):
        assert (verdict.severity == 0) == (not verdict.harmful)
        assert verdict.severity in (0, 1, 2, 3)
    assert guard.classify([]) == []


def test_save_load_round_trip_gives_the_same_verdicts(tiny_encoder, tmp_path) -> None:
    guard = train_encoder_guard(_examples(), _examples(), _config(tiny_encoder, epochs=3)).guard
    texts = [
        *HARMFUL,
        *BENIGN,
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
    ]
    expected = guard.classify(texts)
    guard.save(tmp_path / "g")
    saved = json.loads((tmp_path / "g" / "guard_config.json").read_text())
    assert saved["thresholds"] == guard.config.thresholds
    reloaded = EncoderGuard.load(tmp_path / "g")  # LoRA merged into the encoder on load
    for a, b in zip(expected, reloaded.classify(texts), strict=True):
        assert a.prompt_harmful.probability == pytest.approx(b.prompt_harmful.probability, abs=1e-5)
        assert a.categories == pytest.approx(b.categories, abs=1e-5)
        assert a.prompt_harmful.label == b.prompt_harmful.label


def test_loading_a_folder_that_is_not_a_guard_says_what_it_needs(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="guard_config.json and guard.safetensors"):
        EncoderGuard.load(tmp_path)


def _guard_config(encoder: str):
    from safealign.guard.encoder_guard import EncoderGuardConfig

    return EncoderGuardConfig(
        encoder=encoder,
        categories=["Violence"],
        max_length=32,
        hidden_size=16,
        lora_rank=4,
        lora_layers=1,
    )


def _accuracy(guard: EncoderGuard, examples: list[GuardExample]) -> float:
    verdicts = guard.classify([e.turns for e in examples])
    hits = [v.harmful == e.harmful for e, v in zip(examples, verdicts, strict=True)]
    return sum(hits) / len(hits)


def test_a_conversation_gets_the_same_logits_whatever_it_is_batched_with(tiny_encoder) -> None:
    guard = EncoderGuard.build(_guard_config(tiny_encoder))
    conversations = [
        "a bomb recipe please",
        [{"role": "user", "content": "bake a cake"}, {"role": "assistant", "content": "Mix it."}],
        "how do I bake a cake at home for the station party on Saturday evening",
        "hi",
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "No, sorry."}],
    ]
    _, together = guard.raw_logits(conversations, batch_size=2)
    for i, conversation in enumerate(conversations):
        _, alone = guard.raw_logits([conversation], batch_size=2)
        torch.testing.assert_close(together["binary"][i], alone["binary"][0], atol=1e-5, rtol=0)
        torch.testing.assert_close(together["categories"][i], alone["categories"][0])


def test_batches_are_cut_where_padding_would_pass_the_bound() -> None:
    # [10, 10, 11]: 33 padded tokens, 2 of padding (6 %); adding 20 would pad 29 of 80 (36 %)
    lengths = [10, 10, 11, 20, 20, 40]
    batches = padding_bounded_batches(lengths, size=4, max_padding=0.2)
    assert batches == [range(0, 3), range(3, 5), range(5, 6)]
    assert padding_bounded_batches(lengths, size=4, max_padding=1.0) == [range(0, 4), range(4, 6)]
    assert padding_bounded_batches([5] * 10, size=4, max_padding=0.0) == [
        range(0, 4),
        range(4, 8),
        range(8, 10),
    ]
    assert padding_bounded_batches([], size=4, max_padding=0.2) == []
