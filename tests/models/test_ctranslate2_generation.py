"""The CTranslate2 greedy path gives the PyTorch path's tokens, and steps aside whenever the
model is not a plain checkpoint (hooks, adapters, sampling)."""

from __future__ import annotations

import copy
import os

import pytest
import torch

from safealign.errors import ConfigError
from safealign.models import GenerationConfig, generate
from safealign.models.ctranslate2_generation import unavailable_reason, weights_checksum
from safealign.models.generation import choose_backend

pytest.importorskip("ctranslate2")

PROMPTS = [
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "List three prime numbers.",
    "How do I boil an egg? Answer in detail, please, step by step.",
    "Explain photosynthesis to a ten-year-old.",
    "Give me a recipe idea that uses chickpeas.",
]


def tokens(loaded, results) -> list[list[int]]:
    encode = loaded.tokenizer
    return [encode(s[0].output, add_special_tokens=False)["input_ids"] for s in results]


@pytest.mark.slow
def test_embedded_greedy_tokens_equal_the_torch_path(embedded, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEALIGN_HOME", str(tmp_path))
    config = GenerationConfig(max_new_tokens=32, batch_size=6)
    assert choose_backend(embedded, config) == "ctranslate2"
    fast = generate(embedded, PROMPTS, config, progress=False)
    slow = generate(embedded, PROMPTS, GenerationConfig(**{**vars(config), "backend": "torch"}))
    for one, other in zip(fast, slow, strict=True):
        assert one[0].output == other[0].output
        assert one[0].num_new_tokens == other[0].num_new_tokens
        assert one[0].finish_reason == other[0].finish_reason
    assert {s[0].finish_reason for s in slow} == {"stop", "length"}  # both endings covered


def test_tiny_greedy_tokens_equal_the_torch_path(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEALIGN_HOME", str(tmp_path))
    config = GenerationConfig(max_new_tokens=12, batch_size=4, backend="ctranslate2")
    fast = generate(tiny, PROMPTS, config, progress=False)
    slow = generate(tiny, PROMPTS, GenerationConfig(**{**vars(config), "backend": "torch"}))
    assert [s[0].output for s in fast] == [s[0].output for s in slow]
    assert [s[0].num_new_tokens for s in fast] == [s[0].num_new_tokens for s in slow]


def test_forward_hooks_send_generation_to_torch_and_take_effect(tiny, caplog):
    config = GenerationConfig(max_new_tokens=8, backend="ctranslate2")
    plain = generate(tiny, PROMPTS[:2], config, progress=False)
    layer = tiny.model.model.layers[0]
    handle = layer.register_forward_hook(lambda module, args, output: _shift(output))
    try:
        assert "forward hooks" in unavailable_reason(tiny)
        with caplog.at_level("WARNING"):
            steered = generate(tiny, PROMPTS[:2], config, progress=False)
        assert "generating with torch, not ctranslate2: forward hooks" in caplog.text
    finally:
        handle.remove()
    assert [s[0].output for s in steered] != [s[0].output for s in plain]


def test_sampling_and_adapters_stay_in_torch(tiny):
    from peft import LoraConfig, get_peft_model

    sampling = GenerationConfig(temperature=0.7)
    assert choose_backend(tiny, sampling) == "torch"
    adapted = copy.copy(tiny)
    adapted.model = get_peft_model(
        copy.deepcopy(tiny.model), LoraConfig(r=2, target_modules=["q_proj"])
    )
    assert "adapter" in unavailable_reason(adapted)
    assert choose_backend(adapted, GenerationConfig()) == "torch"


def test_weights_checksum_changes_when_a_weight_changes(tiny):
    before = weights_checksum(tiny.model)
    assert weights_checksum(tiny.model) == before
    with torch.no_grad():
        tiny.model.model.layers[0].mlp.down_proj.weight[0, 0] += 1e-3
    assert weights_checksum(tiny.model) != before


def _shift(output):
    hidden = output[0] if isinstance(output, tuple) else output
    hidden = hidden + 5.0
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


def test_a_repetition_penalty_in_the_generation_config_stays_in_torch(tiny):
    tiny.model.generation_config.repetition_penalty = 1.2
    assert "repetition_penalty=1.2" in unavailable_reason(tiny)


def test_auto_keeps_a_bfloat16_model_in_torch_and_says_why(tiny, caplog):
    half = copy.copy(tiny)
    half.model = copy.deepcopy(tiny.model).to(torch.bfloat16)
    with caplog.at_level("INFO"):
        assert choose_backend(half, GenerationConfig()) == "torch"
    assert "runs in bfloat16" in caplog.text
    assert choose_backend(tiny, GenerationConfig()) == "ctranslate2"  # float32: fast path
    explicit = GenerationConfig(backend="ctranslate2")
    assert choose_backend(half, explicit) == "ctranslate2"  # asked for by name: honoured


def test_only_the_most_recently_used_conversions_are_kept(tmp_path, monkeypatch):
    from safealign.models import tiny_model
    from safealign.models.ctranslate2_generation import converted_checkpoint

    monkeypatch.setenv("SAFEALIGN_HOME", str(tmp_path))
    monkeypatch.setenv("SAFEALIGN_CT2_KEEP", "2")
    first, second, third = (tiny_model(seed=seed) for seed in (1, 2, 3))
    made = [converted_checkpoint(first), converted_checkpoint(second)]
    os.utime(made[0], (1, 1))  # pretend both are old; then use the first again
    os.utime(made[1], (1, 1))
    assert converted_checkpoint(first) == made[0]  # a hit marks it most recently used
    newest = converted_checkpoint(third)
    kept = sorted(p.name for p in (tmp_path / "ctranslate2").iterdir())
    assert kept == sorted([made[0].name, newest.name])  # the least recently used went

    monkeypatch.setenv("SAFEALIGN_CT2_KEEP", "many")
    with pytest.raises(ConfigError, match="SAFEALIGN_CT2_KEEP"):
        converted_checkpoint(second)
