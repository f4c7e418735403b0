"""One autograd op per LoRA linear: `x W^T + (x A^T)(s B)^T`, for the training step.

PEFT's LoRA layer runs the frozen linear, casts the input to the adapter's dtype, runs A and B,
multiplies the [tokens, out] result by the scaling, adds it to the base output and casts back;
backward then adds the base and adapter input gradients as a second [tokens, in] tensor. On a
CPU, with short packed rows, those elementwise passes over full-width activations cost about as
much as the adapter's matmuls. Here the scaling is folded into B, the adapter product is
accumulated into the base output in place (`addmm_`), and the input gradient is one `addmm_`.

Same mathematics, same parameters: in float32 the loss and gradients equal PEFT's within float
rounding (exactly, when the scaling is a power of two). With a bfloat16 base the adapter's
product runs in bfloat16 from its float32 master weights, as TRL's bf16 autocast does, instead
of upcasting every activation to float32. Anything unusual (dropout, DoRA, several or disabled
adapters, a merged or quantized layer, extra forward arguments) takes PEFT's own forward.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _LoraLinear(torch.autograd.Function):
    """y = x W^T + b + (x A^T)(s B)^T with W, b frozen; gradients for x, A and B only."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, lora_a: Tensor,
                lora_b: Tensor, scaling: float) -> Tensor:  # fmt: skip
        compute = x.dtype
        a = lora_a.to(compute)
        b_scaled = (lora_b * scaling).to(compute)
        flat = x.reshape(-1, x.shape[-1])
        down = flat @ a.t()  # [tokens, r]
        out = F.linear(flat, weight, bias)
        out.addmm_(down, b_scaled.t())
        ctx.save_for_backward(flat, down, weight, a, b_scaled)
        ctx.scaling = scaling
        ctx.shapes = (x.shape, lora_a.dtype, lora_b.dtype)
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        flat, down, weight, a, b_scaled = ctx.saved_tensors
        x_shape, a_dtype, b_dtype = ctx.shapes
        grad = grad_out.reshape(-1, grad_out.shape[-1]).to(flat.dtype)
        grad_down = grad @ b_scaled  # [tokens, r]
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad @ weight).addmm_(grad_down, a).view(x_shape)
        grad_a = (grad_down.t() @ flat).to(a_dtype) if ctx.needs_input_grad[3] else None
        grad_b = None
        if ctx.needs_input_grad[4]:
            grad_b = (grad.t() @ down).to(b_dtype).mul_(ctx.scaling)
        return grad_x, None, None, grad_a, grad_b, None


def _eligible_adapter(layer: nn.Module) -> str | None:
    """The one plain LoRA adapter this layer runs now, or None when PEFT's forward must run."""
    if layer.disable_adapters or layer.merged or len(layer.active_adapters) != 1:
        return None
    name = layer.active_adapters[0]
    if name not in layer.lora_A or name in getattr(layer, "lora_variant", {}):
        return None
    if layer.use_dora.get(name) or layer.lora_B[name].bias is not None:
        return None
    if not isinstance(layer.lora_dropout[name], nn.Identity):
        return None
    base = layer.get_base_layer()
    if type(base) is not nn.Linear or getattr(layer, "fan_in_fan_out", False):
        return None
    if base.weight.requires_grad or not base.weight.is_floating_point():
        return None
    return name


def _fused_forward(layer: nn.Module, peft_forward) -> object:
    def forward(x: Tensor, *args, **kwargs) -> Tensor:
        name = None if (args or kwargs) else _eligible_adapter(layer)
        if name is None:
            return peft_forward(x, *args, **kwargs)
        base = layer.get_base_layer()
        return _LoraLinear.apply(
            x,
            base.weight,
            base.bias,
            layer.lora_A[name].weight,
            layer.lora_B[name].weight,
            layer.scaling[name],
        )

    return forward


@contextlib.contextmanager
def fused_lora_forward(model: nn.Module) -> Iterator[int]:
    """Within the block, eligible PEFT LoRA linears use the fused op; yields how many layers
    were switched (0 for a model without LoRA). PEFT's forward is restored on exit."""
    try:
        from peft.tuners.lora.layer import Linear as LoraLinear
    except ImportError:  # pragma: no cover - PEFT is a dependency
        yield 0
        return
    layers = [m for m in model.modules() if type(m) is LoraLinear]
    for layer in layers:
        layer.forward = _fused_forward(layer, types.MethodType(LoraLinear.forward, layer))
    try:
        yield len(layers)
    finally:
        for layer in layers:
            del layer.forward
