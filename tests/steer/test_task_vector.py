"""Task vectors: top-k and arithmetic by hand, streamed == in-memory, adapters, edit areas,
and edited/steered model folders loading through load_model."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from safealign.errors import ModelLoadError
from safealign.models import load_model, tiny_model
from safealign.steer import (
    ModelFingerprint,
    SteeringVector,
    TaskVector,
    apply_task_vector,
    apply_task_vector_in_memory,
    changed_layers,
    keep_top_k,
    topk_threshold,
    write_steered_model,
)
from safealign.steer.task_vector import combine, global_topk_threshold, neighbourhood


def save_tiny(loaded, folder):
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    return folder


def perturbed(seed: int, only: str | None = None):
    """The tiny model (seed 0) with noise added to every tensor (or those containing `only`)."""
    loaded = tiny_model(seed=0)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in loaded.model.named_parameters():
            if only is None or only in name:
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
    return loaded


def test_top_k_and_arithmetic_by_hand():
    tau = torch.tensor([[0.1, -5.0], [3.0, 0.2]])
    threshold = topk_threshold(tau.abs(), 0.5)  # keep 2 of 4 entries
    assert threshold == 3.0
    kept = keep_top_k(tau, threshold)
    assert torch.equal(kept, torch.tensor([[0.0, -5.0], [3.0, 0.0]]))
    theta = torch.ones(2, 2)
    assert torch.equal(
        combine(theta, kept, 2.0, "subtract"), torch.tensor([[1.0, 11.0], [-5.0, 1.0]])
    )
    assert torch.equal(combine(theta, kept, 0.5, "add"), torch.tensor([[1.0, -1.5], [2.5, 1.0]]))
    assert topk_threshold(tau.abs(), 0.1) == 5.0  # ceil(0.4) = 1 entry
    assert neighbourhood({1, 5}, 1, 6) == {0, 1, 2, 4, 5}


def test_streamed_global_threshold_is_exact():
    class Vector:
        def __init__(self, tensors):
            self.tensors = tensors

        def items(self, names):
            for name in names:
                yield name, self.tensors[name]

    torch.manual_seed(0)
    tensors = {"a": torch.randn(40, 30), "b": 3 * torch.randn(501), "c": torch.zeros(20)}
    everything = torch.cat([t.abs().reshape(-1) for t in tensors.values()])
    for fraction in (1e-4, 0.01, 0.1, 0.37, 1.0):
        streamed = global_topk_threshold(Vector(tensors), list(tensors), fraction)
        assert streamed == topk_threshold(everything, fraction)


@pytest.mark.parametrize(
    ("scope", "layers", "operation"),
    [("global", None, "subtract"), ("tensor", None, "add"), ("global", {1}, "subtract")],
)
def test_streamed_hdr_equals_in_memory(tmp_path, scope, layers, operation):
    base = save_tiny(tiny_model(seed=0), tmp_path / "base")
    harmful = save_tiny(perturbed(1), tmp_path / "harmful")
    target = save_tiny(perturbed(2), tmp_path / "target")
    result = apply_task_vector(
        target,
        TaskVector(harmful, base=base),
        tmp_path / "out",
        scale=3.0,
        operation=operation,
        top_k=0.1,
        top_k_scope=scope,
        layers=layers,
    )
    base_sd, harm_sd = (
        load_file(base / "model.safetensors"),
        load_file(harmful / "model.safetensors"),
    )
    target_sd = load_file(target / "model.safetensors")
    tau = {n: harm_sd[n] - base_sd[n] for n in base_sd}
    expected = apply_task_vector_in_memory(
        target_sd, tau, scale=3.0, operation=operation, top_k=0.1, top_k_scope=scope, layers=layers
    )
    streamed = load_file(tmp_path / "out" / "model.safetensors")
    assert set(streamed) == set(expected)
    for name in expected:
        assert torch.equal(streamed[name], expected[name]), name
    changed = [n for n in expected if not torch.equal(expected[n], target_sd[n])]
    assert changed and (layers is None or all(".layers.1." in n for n in changed))
    if scope == "global" and layers is None:
        assert result.entries_kept / result.entries_total == pytest.approx(0.1, abs=0.001)
    # the output is a normal checkpoint every verb loads
    loaded = load_model(tmp_path / "out")
    assert torch.equal(
        loaded.model.state_dict()["model.norm.weight"], expected["model.norm.weight"]
    )


def test_adapter_task_vector_is_the_merged_change(tmp_path):
    from peft import LoraConfig, get_peft_model

    loaded = tiny_model(seed=0)
    base = save_tiny(loaded, tmp_path / "base")
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(tiny_model(seed=0).model, config)
    peft_model.save_pretrained(tmp_path / "adapter")
    merged = peft_model.merge_and_unload().state_dict()
    base_sd = load_file(base / "model.safetensors")
    vector = TaskVector(tmp_path / "adapter")
    assert len(vector.names) == 4  # 2 modules x 2 layers
    for name, tau in vector.items():
        assert torch.allclose(tau, merged[name] - base_sd[name], atol=1e-6), name


def test_edit_area_is_the_changed_layers(tmp_path):
    base = save_tiny(tiny_model(seed=0), tmp_path / "base")
    edited = save_tiny(perturbed(3, only="layers.1.mlp"), tmp_path / "edited")
    assert changed_layers(base, edited) == {1}
    assert changed_layers(base, base) == set()


def test_steered_folder_loads_steered(tmp_path):
    loaded = tiny_model(seed=0)
    base = save_tiny(loaded, tmp_path / "base")
    generator = torch.Generator().manual_seed(0)
    vector = SteeringVector(
        layer_vectors={i: torch.randn(32, generator=generator) for i in range(2)},
        model=loaded.name,
        fingerprint=ModelFingerprint.of(loaded.model),
        method="mean-difference",
        read_position="last",
        source="test",
        num_pairs=2,
    )
    vector_path = vector.save(tmp_path / "v.safetensors")
    folder = write_steered_model(tmp_path / "steered", str(base), vector_path, alpha=0.7)
    batch = loaded.tokenizer(["hello"], return_tensors="pt")
    with vector.apply(loaded, alpha=0.7), torch.inference_mode():
        expected = loaded.model(**batch).logits
    steered = load_model(folder)
    assert len(steered.attachments) == 1 and "steer:icv@0.7" in steered.name
    with torch.inference_mode():
        assert torch.allclose(steered.model(**batch).logits, expected, atol=1e-6)
    steered.attachments[0].remove()
    with torch.inference_mode():
        assert not torch.allclose(steered.model(**batch).logits, expected, atol=1e-3)

    manifest = json.loads((folder / "safealign_model.json").read_text())
    manifest["steerng"] = manifest.pop("steering")
    (folder / "safealign_model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="unknown entry 'steerng'"):
        load_model(folder)
