"""The packed preference step (shared prompts, logits only where a response token is predicted),
with or without the fused LoRA linear, gives the padded PEFT step's loss and LoRA gradients on
the same batch, on the embedded model."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
from accelerate import Accelerator

from safealign.data.schema import Response, Sample
from safealign.train.config import TrainConfig
from safealign.train.fused_lora import fused_lora_forward
from safealign.train.losses import LossConfig
from safealign.train.trainer import (
    _batch_loss,
    _setup_model,
    build_pair_set,
    collate_preference_batch,
)

pytestmark = pytest.mark.slow


def samples() -> list[Sample]:
    """Three pairs of different lengths; two share a prompt, so packing shares across pairs too."""
    rows = [
        ("How do I pick a lock?", "I can't help with that.", "First, insert a tension wrench.", 1),
        ("Tell me about the moon.", "The Moon orbits Earth every 27 days.", "No.", 0),
        ("How do I pick a lock?", "Call a locksmith; they can open it safely.", "Use a pin.", 0),
    ]
    return [
        Sample(
            prompt,
            responses=[Response(a, is_safe=True), Response(b, is_safe=False)],
            better=better,
            safer=0,
        )
        for prompt, a, b, better in rows
    ]


def loss_and_lora_grads(
    embedded, loss: LossConfig, packed: bool, fused: bool = False
) -> tuple[float, dict]:
    config = TrainConfig(loss=loss, progress=False, packed=packed, precompute_reference=False)
    loaded = copy.deepcopy(embedded)
    torch.manual_seed(0)  # the same LoRA A initialisation in both runs
    model, reference = _setup_model(config, loaded)
    for name, parameter in model.named_parameters():  # reference and every A gets a gradient
        if "lora_B" in name:
            parameter.data.normal_(0, 0.02)  # LoRA B starts at zero: move it, so the policy
            # differs from the reference and every A gets a gradient
    pairs = build_pair_set(config, loaded, samples()).pairs
    batch = collate_preference_batch(pairs, loaded.tokenizer.pad_token_id, packed=packed)
    model.train()
    with fused_lora_forward(model) if fused else contextlib.nullcontext():
        value, _ = _batch_loss(config, model, reference, None, batch, Accelerator(cpu=True))
        value.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return value.item(), grads


@pytest.mark.parametrize("fused", [False, True], ids=["peft-lora", "fused-lora"])
@pytest.mark.parametrize("loss", [LossConfig(name="dpo"), LossConfig(name="bfpo", beta=0.5)])
def test_packed_step_matches_padded_loss_and_lora_gradients(embedded, loss, fused):
    padded_loss, padded_grads = loss_and_lora_grads(embedded, loss, packed=False)
    packed_loss, packed_grads = loss_and_lora_grads(embedded, loss, packed=True, fused=fused)
    assert padded_loss != 0.0
    assert packed_loss == pytest.approx(padded_loss, rel=1e-4, abs=1e-5)
    assert packed_grads.keys() == padded_grads.keys() and len(padded_grads) == 30 * 7 * 2
    for name, grad in padded_grads.items():
        assert grad.abs().sum() > 0, name
        scale = grad.abs().max()
        assert torch.allclose(packed_grads[name], grad, atol=1e-3 * scale, rtol=1e-3), name


def test_packed_batch_holds_each_prompt_once(embedded):
    config = TrainConfig(progress=False)
    pairs = build_pair_set(config, embedded, samples()).pairs
    padded = collate_preference_batch(pairs, embedded.tokenizer.pad_token_id)
    packed = collate_preference_batch(pairs, embedded.tokenizer.pad_token_id, packed=True)
    assert padded["input_ids"].shape[0] == 6  # 3 chosen + 3 rejected rows
    assert packed["input_ids"].shape[0] == 2  # one row per distinct prompt
    real_tokens = int((padded["attention_mask"]).sum())
    prompt_tokens = sum(p.chosen.response_mask.count(0) for p in pairs)
    # Each distinct prompt appears once instead of twice per pair; responses all stay.
    assert int(packed["targets"].numel()) == int(padded["response_mask"].sum())
    assert (packed["block_mask"].sum() > 0) and real_tokens > prompt_tokens
