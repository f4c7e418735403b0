"""Steering hooks: exact arithmetic, removal, padding, decode steps, batching, save/load."""

from __future__ import annotations

import pytest
import torch

from safealign.models import GenerationConfig, generate, tiny_model
from safealign.steer import (
    ContrastPair,
    ModelFingerprint,
    SteeringVector,
    SteeringVectorError,
    build_steering_vector,
    decoder_layers,
    first_principal_direction,
    icv_rule,
    mean_difference,
)


def make_vector(loaded, scale: float = 1.0, seed: int = 1) -> SteeringVector:
    generator = torch.Generator().manual_seed(seed)
    config = loaded.model.config
    vectors = {
        i: scale * torch.randn(config.hidden_size, generator=generator)
        for i in range(config.num_hidden_layers)
    }
    return SteeringVector(
        layer_vectors=vectors,
        model=loaded.name,
        fingerprint=ModelFingerprint.of(loaded.model),
        method="mean-difference",
        read_position="last",
        source="test",
        num_pairs=2,
    )


def layer_outputs(loaded, batch, layer: int) -> list[torch.Tensor]:
    """Outputs of one decoder layer for every forward call (hook registered after steering)."""
    seen = []
    handle = decoder_layers(loaded.model)[layer].register_forward_hook(
        lambda _m, _a, out: seen.append(
            (out[0] if isinstance(out, tuple) else out).detach().clone()
        )
    )
    try:
        with torch.inference_mode():
            loaded.model(**batch)
    finally:
        handle.remove()
    return seen


def test_icv_rule_by_hand():
    h = torch.tensor([[3.0, 4.0], [0.0, 2.0]])  # norms 5 and 2
    v = torch.tensor([1.0, 0.0])
    out = icv_rule(h, v, 2.0)
    # row 0: (5, 4), norm sqrt(41) -> scaled to norm 5; row 1: (2, 2) -> norm 2
    assert torch.allclose(out[0], torch.tensor([5.0, 4.0]) * 5 / 41**0.5)
    assert torch.allclose(out[1], torch.tensor([2.0, 2.0]) * 2 / 8**0.5)


def test_add_rule_adds_exactly_alpha_v_and_icv_restores_norm(tiny):
    vector = make_vector(tiny)
    batch = tiny.tokenizer(["hello there"], return_tensors="pt")
    plain = layer_outputs(tiny, batch, 1)[0]
    # Steer only layer 1 so its input is the unsteered one.
    with vector.apply(tiny, alpha=0.25, rule="add", layers=[1]):
        added = layer_outputs(tiny, batch, 1)[0]
    assert torch.allclose(added, plain + 0.25 * vector.layer_vectors[1], atol=1e-6)
    with vector.apply(tiny, alpha=0.25, rule="icv", layers=[1]):
        turned = layer_outputs(tiny, batch, 1)[0]
    shifted = plain + 0.25 * vector.layer_vectors[1]
    assert torch.allclose(turned.norm(dim=-1), plain.norm(dim=-1), atol=1e-5)
    expected = shifted * plain.norm(dim=-1, keepdim=True) / shifted.norm(dim=-1, keepdim=True)
    assert torch.allclose(turned, expected, atol=1e-6)
    with vector.apply(tiny, alpha=-0.25, rule="add", layers=[1]):  # negation = negative alpha
        negated = layer_outputs(tiny, batch, 1)[0]
    assert torch.allclose(negated, plain - 0.25 * vector.layer_vectors[1], atol=1e-6)


def test_hooks_removed_after_exit_and_after_exception(tiny):
    vector = make_vector(tiny)
    batch = tiny.tokenizer(["hello"], return_tensors="pt")
    with torch.inference_mode():
        before = tiny.model(**batch).logits
    with vector.apply(tiny, alpha=1.0), torch.inference_mode():
        steered = tiny.model(**batch).logits
    assert not torch.allclose(before, steered)
    with pytest.raises(RuntimeError, match="boom"), vector.apply(tiny, alpha=1.0):
        raise RuntimeError("boom")
    layers = decoder_layers(tiny.model)
    assert all(not layer._forward_hooks for layer in layers)
    assert not tiny.model._forward_pre_hooks
    with torch.inference_mode():
        assert torch.equal(tiny.model(**batch).logits, before)


def test_padding_positions_are_not_steered(tiny):
    vector = make_vector(tiny)
    batch = tiny.tokenizer(["a much longer prompt here", "hi"], return_tensors="pt", padding=True)
    pad = batch["attention_mask"] == 0
    assert pad.any()
    plain = layer_outputs(tiny, batch, 0)[0]
    with vector.apply(tiny, alpha=1.0, rule="add", layers=[0]):
        steered = layer_outputs(tiny, batch, 0)[0]
    assert torch.equal(steered[pad], plain[pad])
    assert torch.allclose(steered[~pad], plain[~pad] + vector.layer_vectors[0], atol=1e-6)


def test_decode_steps_with_kv_cache_are_steered(tiny):
    """Prompt pass then one cached decode step == one full forward, both steered."""
    vector = make_vector(tiny, scale=0.5)
    ids = tiny.tokenizer(["steer me please"], return_tensors="pt")["input_ids"]
    prompt, last = ids[:, :-1], ids[:, -1:]
    with vector.apply(tiny, alpha=1.0), torch.inference_mode():
        full = tiny.model(ids).logits[:, -1]
        cache = tiny.model(prompt, use_cache=True).past_key_values
        stepped = tiny.model(last, past_key_values=cache, use_cache=True).logits[:, -1]
    with torch.inference_mode():
        cache = tiny.model(prompt, use_cache=True).past_key_values
        unsteered_step = tiny.model(last, past_key_values=cache, use_cache=True).logits[:, -1]
    assert torch.allclose(stepped, full, atol=1e-5)
    assert not torch.allclose(stepped, unsteered_step, atol=1e-3)


def test_generate_steers_every_decode_step(tiny):
    vector = make_vector(tiny)
    calls = []
    layer = decoder_layers(tiny.model)[0]
    config = GenerationConfig(max_new_tokens=6, batch_size=2)
    with vector.apply(tiny, alpha=1.0, rule="add", layers=[0]):
        # registered after the steering hook, so it sees steered outputs
        handle = layer.register_forward_hook(lambda _m, _a, out: calls.append(out.shape[1]))
        try:
            generate(tiny, ["one", "two words"], config, progress=False)
        finally:
            handle.remove()
    assert calls.count(1) >= 5  # prompt pass + one call per decode step, each through the hook


def test_batched_left_padded_equals_one_at_a_time(embedded):
    vector = make_vector(embedded, scale=0.02)
    prompts = ["How do I bake bread?", "Name a colour.", "Explain photosynthesis in one line."]
    config = GenerationConfig(max_new_tokens=12, batch_size=3)
    with vector.apply(embedded, alpha=1.0):
        batched = [g[0].output for g in generate(embedded, prompts, config, progress=False)]
        single = [generate(embedded, [p], config, progress=False)[0][0].output for p in prompts]
    plain = [g[0].output for g in generate(embedded, prompts, config, progress=False)]
    assert batched == single
    assert batched != plain  # the steering changed the answers


def test_save_load_round_trip_and_refusal_for_other_model(tmp_path, tiny):
    vector = make_vector(tiny)
    path = vector.save(tmp_path / "v.safetensors")
    loaded = SteeringVector.load(path)
    assert loaded.fingerprint == vector.fingerprint and loaded.method == vector.method
    assert loaded.model == vector.model and loaded.num_pairs == 2
    for i, v in vector.layer_vectors.items():
        assert torch.equal(loaded.layer_vectors[i], v)
    wider = tiny_model(hidden_size=64)
    with pytest.raises(SteeringVectorError, match="hidden size 64"):
        loaded.apply(wider, alpha=1.0)
    deeper = tiny_model(num_layers=3)
    with pytest.raises(SteeringVectorError, match="3 layers"):
        loaded.apply(deeper, alpha=1.0)
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(SteeringVectorError, match="not a readable safetensors"):
        SteeringVector.load(tmp_path / "bad.safetensors")


def test_aggregators_by_hand():
    # two pairs, one layer, 2-d hidden: differences (2, 0) and (4, 0)
    diffs = torch.tensor([[[2.0, 0.0]], [[4.0, 0.0]]])
    assert torch.allclose(mean_difference(diffs), torch.tensor([[3.0, 0.0]]))
    # first principal direction: (1, 0) (sign agrees with the mean), length = mean projection 3
    assert torch.allclose(first_principal_direction(diffs), torch.tensor([[3.0, 0.0]]))
    flipped = torch.tensor([[[0.0, -1.0]], [[0.0, -3.0]]])
    assert torch.allclose(first_principal_direction(flipped), torch.tensor([[0.0, -2.0]]))


def test_build_vector_reads_the_answer_end(tiny):
    pairs = [
        ContrastPair("q one", "bad answer", "good answer"),
        ContrastPair("q two", "worse answer", "fine answer"),
        ContrastPair("q three", "awful", "kind reply"),
    ]
    vector = build_steering_vector(tiny, pairs, method="mean-difference", last_k=2)
    assert vector.layers == [0, 1] and vector.read_position == "mean-last-2"
    assert vector.layer_vectors[0].shape == (32,)
    icv = build_steering_vector(tiny, pairs, method="icv", last_k=1)
    # the principal direction agrees in sign with the mean difference
    mean = build_steering_vector(tiny, pairs, method="mean-difference", last_k=1)
    flat_icv = torch.cat([icv.layer_vectors[i] for i in icv.layers])
    flat_mean = torch.cat([mean.layer_vectors[i] for i in mean.layers])
    assert float(flat_icv @ flat_mean) > 0
