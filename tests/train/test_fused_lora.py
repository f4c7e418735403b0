"""The fused LoRA linear gives PEFT's loss and LoRA gradients on the same batch, falls back to
PEFT's forward where it does not apply, and leaves the model as it found it."""

from __future__ import annotations

import copy
import statistics

import pytest
import torch
from torch import nn

from safealign.train.config import TrainConfig
from safealign.train.fused_lora import fused_lora_forward
from safealign.train.trainer import _setup_model


def lora_model(tiny, dtype: torch.dtype = torch.float32, **lora) -> nn.Module:
    """The tiny Llama under the trainer's LoRA (every projection), B moved off zero so every
    adapter weight gets a gradient."""
    loaded = copy.deepcopy(tiny)
    loaded.model.to(dtype)
    torch.manual_seed(0)
    model, _ = _setup_model(TrainConfig(progress=False, **lora), loaded)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0, 0.05)
    return model


def loss_and_grads(model: nn.Module, fused: bool) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    ids = torch.randint(3, 200, (3, 17), generator=torch.Generator().manual_seed(1))
    with fused_lora_forward(model) if fused else torch.enable_grad():
        logits = model(input_ids=ids).logits.float()
        loss = torch.log_softmax(logits, -1)[..., 5].mean()  # depends on every layer
        loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads


def relative_error(grads: dict, reference: dict) -> list[float]:
    return [float((grads[k] - g).norm() / g.norm()) for k, g in reference.items()]


@pytest.mark.parametrize("alpha", [32, 24])  # scaling 2 (a power of two) and 1.5
def test_fused_float32_equals_peft(tiny, alpha):
    model = lora_model(tiny, lora_r=16, lora_alpha=alpha)
    peft_loss, peft_grads = loss_and_grads(model, fused=False)
    fused_loss, fused_grads = loss_and_grads(model, fused=True)
    assert fused_loss == pytest.approx(peft_loss, rel=1e-6)
    assert fused_grads.keys() == peft_grads.keys() and len(peft_grads) == 2 * 7 * 2
    assert all(g.abs().sum() > 0 for g in peft_grads.values())
    assert max(relative_error(fused_grads, peft_grads)) < 1e-5


def test_fused_bfloat16_is_as_close_to_float32_as_peft_bfloat16(tiny):
    """With a bf16 base the fused adapter product runs in bf16 (PEFT upcasts to fp32): its
    gradients must be as near the float32 ones as PEFT's bf16 gradients are."""
    _, exact = loss_and_grads(lora_model(tiny, torch.float32), fused=False)
    bf16 = lora_model(tiny, torch.bfloat16)
    _, peft_grads = loss_and_grads(bf16, fused=False)
    _, fused_grads = loss_and_grads(bf16, fused=True)
    assert all(g.dtype == torch.float32 for g in fused_grads.values())  # master weights
    peft_error = statistics.median(relative_error(peft_grads, exact))
    fused_error = statistics.median(relative_error(fused_grads, exact))
    assert 0 < peft_error < 0.1
    assert fused_error < 1.5 * peft_error + 1e-3


def test_fused_falls_back_to_peft_where_it_does_not_apply(tiny):
    ids = torch.tensor([[5, 6, 7, 8]])
    dropout = lora_model(tiny, lora_dropout=0.5).train()
    torch.manual_seed(3)
    expected = dropout(input_ids=ids).logits
    with fused_lora_forward(dropout):
        torch.manual_seed(3)  # PEFT's dropout draws the same mask again
        assert torch.equal(dropout(input_ids=ids).logits, expected)

    model = lora_model(tiny)
    base = copy.deepcopy(tiny).model(input_ids=ids).logits
    with fused_lora_forward(model) as switched, torch.no_grad(), model.disable_adapter():
        assert switched == 2 * 7
        assert torch.allclose(model(input_ids=ids).logits, base, atol=1e-6)


def test_fused_forward_is_restored_on_exit(tiny):
    model = lora_model(tiny)
    layers = [m for m in model.modules() if "forward" in m.__dict__]
    assert not layers
    with pytest.raises(RuntimeError), fused_lora_forward(model):
        raise RuntimeError("a step failed")
    assert not [m for m in model.modules() if "forward" in m.__dict__]
