"""The preference trainer on the tiny model: it learns, resumes exactly, and writes its outputs."""

from __future__ import annotations

import json

import pytest
import torch

from safealign.data.schema import Response, Sample
from safealign.errors import ConfigError, DataError, RunInterrupted
from safealign.models import load_model, tiny_model
from safealign.train.checkpoints import list_checkpoints, trainable_state
from safealign.train.config import TrainConfig
from safealign.train.losses import LossConfig
from safealign.train.trainer import collate_preference_batch, epoch_order, train

pytestmark = pytest.mark.slow

REFUSAL = "I can't help with that, but I can point you to safety resources."
PLACEHOLDER_UNSAFE = "[unsafe response text]"


def refusal_pairs(n: int = 6) -> list[Sample]:
    """Pairs where the safer answer is a refusal and the more helpful one a placeholder."""
    return [
        Sample(
            prompt=f"harmful request number {i}?",
            responses=[
                Response(REFUSAL, is_safe=True),
                Response(PLACEHOLDER_UNSAFE, is_safe=False),
            ],
            better=1,
            safer=0,
            id=f"s{i}",
        )
        for i in range(n)
    ]


def config(tmp_path, **overrides) -> TrainConfig:
    values = dict(
        output_dir=str(tmp_path / "run"),
        batch_size=2,
        gradient_accumulation_steps=1,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        progress=False,
        save_every=None,
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_dpo_lora_changes_every_trainable_parameter_and_lowers_the_loss(tmp_path):
    loaded = tiny_model(0)
    cfg = config(tmp_path, max_steps=8)
    # Same seed as the trainer's, so the LoRA init we snapshot is the one that gets trained.
    result = train(cfg, loaded=loaded, samples=refusal_pairs())
    trained = trainable_state(result.model.model)
    assert trained and all("lora_" in name for name in trained)

    fresh = tiny_model(0)
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(cfg.seed)
    initial = trainable_state(
        get_peft_model(
            fresh.model,
            LoraConfig(r=16, lora_alpha=32, target_modules=cfg.lora_target_modules),
        )
    )
    for name, value in trained.items():
        assert not torch.allclose(value, initial[name]), f"{name} did not change"
    losses = [row["loss"] for row in result.metrics]
    assert losses[0] == pytest.approx(0.693147, abs=1e-4)  # log 2: policy == reference at start
    assert losses[-1] < 0.5 * losses[0]
    assert result.metrics[-1]["rewards/accuracies"] == 1.0


def test_interrupted_run_resumed_matches_uninterrupted_run(tmp_path):
    # 6 pairs, batch 2, accumulation 2 -> 2 steps per epoch (the 2nd takes one micro-batch);
    # LoRA dropout makes the RNG state matter, shuffling makes the data order matter.
    settings = dict(max_steps=6, gradient_accumulation_steps=2, lora_dropout=0.2, save_every=3)
    straight = train(
        config(tmp_path / "a", **settings), loaded=tiny_model(0), samples=refusal_pairs()
    )

    def crash(step: int, row: dict) -> None:
        if step == 5:  # one step after the checkpoint at step 3: that work is lost
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted, match="step 5 of 6; saved: checkpoint step 3 in") as info:
        train(
            config(tmp_path / "b", **settings),
            loaded=tiny_model(0),
            samples=refusal_pairs(),
            on_step=crash,
        )
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "run")] == ["checkpoint-0000003"]
    assert "train() again with resume=True" in info.value.resume  # in-memory samples: no CLI
    resumed = train(
        config(tmp_path / "b", resume=True, **settings),
        loaded=tiny_model(0),
        samples=refusal_pairs(),
    )
    expected, got = trainable_state(straight.model.model), trainable_state(resumed.model.model)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-7)
    rows = [
        json.loads(x) for x in (tmp_path / "b" / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[-1]["loss"] == pytest.approx(straight.metrics[-1]["loss"], rel=1e-5)


def test_resume_refuses_a_checkpoint_from_different_settings(tmp_path):
    train(
        config(tmp_path, max_steps=2, save_every=1), loaded=tiny_model(0), samples=refusal_pairs()
    )
    with pytest.raises(ConfigError, match="different settings"):
        train(
            config(tmp_path, max_steps=2, save_every=1, learning_rate=1e-3, resume=True),
            loaded=tiny_model(0),
            samples=refusal_pairs(),
        )


def test_precomputed_reference_gives_the_same_training_as_on_the_fly(tmp_path):
    plain = train(
        config(tmp_path / "a", max_steps=3, precompute_reference=False),
        loaded=tiny_model(0),
        samples=refusal_pairs(),
    )
    cached = train(
        config(tmp_path / "b", max_steps=3, precompute_reference=True),
        loaded=tiny_model(0),
        samples=refusal_pairs(),
    )
    assert (tmp_path / "b" / "run" / "reference_logprobs.safetensors").is_file()
    for name, value in trainable_state(plain.model.model).items():
        torch.testing.assert_close(trainable_state(cached.model.model)[name], value)


def test_reference_cache_is_shared_across_a_sweep_of_losses_and_rates(tmp_path, monkeypatch):
    shared = tmp_path / "reference"
    first = config(
        tmp_path / "a", max_steps=2, precompute_reference=True, reference_cache_dir=str(shared)
    )
    train(first, loaded=tiny_model(0), samples=refusal_pairs())
    assert (shared / "reference_logprobs.safetensors").is_file()

    from safealign.train import reference as reference_module

    def no_recompute(*args, **kwargs):
        raise AssertionError("reference log-probs recomputed despite a matching cache")

    monkeypatch.setattr(reference_module, "collated_logprobs", no_recompute)
    second = config(
        tmp_path / "b",
        max_steps=2,
        precompute_reference=True,
        reference_cache_dir=str(shared),
        loss=LossConfig(name="ipo", beta=0.5),
        learning_rate=5e-3,
    )
    train(second, loaded=tiny_model(0), samples=refusal_pairs())  # served from the cache
    other_pairs = refusal_pairs(4)  # other tokens: the cache must not serve them
    with pytest.raises(AssertionError, match="recomputed"):
        train(second, loaded=tiny_model(0), samples=other_pairs)


def test_bfpo_full_finetune_uses_a_frozen_reference_and_learns(tmp_path):
    result = train(
        config(
            tmp_path,
            full_finetune=True,
            dtype="float32",
            loss=LossConfig(name="bfpo", beta=0.5),
            max_steps=6,
            learning_rate=3e-3,
        ),
        loaded=tiny_model(0),
        samples=refusal_pairs(),
    )
    losses = [row["loss"] for row in result.metrics]
    # At the start h = 0 and the target for (helpful unsafe, unhelpful safe) is -1/beta = -2.
    assert losses[0] == pytest.approx(4.0, abs=1e-3)
    assert losses[-1] < losses[0]
    assert result.metrics[0]["rewards/chosen_unsafe"] == pytest.approx(0.0, abs=1e-6)
    assert result.merged_dir is not None and result.adapter_dir is None
    assert (result.merged_dir / "config.json").is_file()


def test_bfpo_without_safety_labels_says_what_is_missing(tmp_path):
    samples = refusal_pairs()
    for sample in samples:
        sample.responses[1].is_safe = None
    with pytest.raises(DataError, match="no training pairs for pair mode 'bfpo'") as info:
        train(
            config(tmp_path, loss=LossConfig(name="bfpo"), max_steps=1),
            loaded=tiny_model(0),
            samples=samples,
        )
    assert "needs a safety label (is_safe) on both responses" in str(info.value)


def test_outputs_metrics_plot_and_merged_model_match_the_adapter(tmp_path):
    loaded = tiny_model(0)
    result = train(
        config(tmp_path, max_steps=3, save_every=1, keep_checkpoints=2, merge=True),
        loaded=loaded,
        samples=refusal_pairs(),
    )
    run = tmp_path / "run"
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-0000002", "checkpoint-0000003"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert (run / "training_curves.png").stat().st_size > 1000
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["pairs"] == 6
    assert (run / "adapter" / "adapter_config.json").is_file()
    # The merged checkpoint loads as a plain model and computes what the adapter computed.
    merged = load_model(run / "model")
    ids = torch.tensor([[5, 40, 41, 42, 43]])
    with torch.no_grad():
        expected = result.model.model(input_ids=ids).logits
        torch.testing.assert_close(
            merged.model(input_ids=ids).logits, expected, rtol=1e-4, atol=1e-5
        )


def test_collate_stacks_chosen_then_rejected_and_marks_unknown_flags():
    from safealign.train.pairs import pairs_from_samples, tokenize_pairs

    tokenizer = tiny_model(0).tokenizer
    samples = refusal_pairs(2)
    samples[1].responses[1].is_safe = None
    pairs, _ = pairs_from_samples(samples, "dpo")
    tokenized, _ = tokenize_pairs(pairs, tokenizer, max_length=256, max_prompt_length=128)
    batch = collate_preference_batch(tokenized, tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] == 4
    assert batch["input_ids"][0, : len(tokenized[0].chosen.input_ids)].tolist() == (
        tokenized[0].chosen.input_ids
    )
    assert batch["input_ids"][2, : len(tokenized[0].rejected.input_ids)].tolist() == (
        tokenized[0].rejected.input_ids
    )
    assert batch["chosen_safe"].tolist() == [1.0, 1.0]
    assert batch["rejected_safe"].tolist() == [0.0, -1.0]


def test_epoch_order_is_a_seeded_permutation_that_changes_per_epoch():
    first, again, second = epoch_order(10, 0, 0), epoch_order(10, 0, 0), epoch_order(10, 0, 1)
    assert sorted(first) == list(range(10)) and first == again and first != second
    assert epoch_order(4, 0, 0, shuffle=False) == [0, 1, 2, 3]
