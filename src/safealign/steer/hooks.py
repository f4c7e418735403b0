"""Forward hooks that steer a decoder's hidden states, and the context manager that owns them.

The hooks sit on the decoder layers, so they work with any `generate()` and KV cache: every
forward call, the prompt pass and each single-token decode step alike, goes through them.
Padding is told apart from text by the attention mask, which a pre-hook on the model's own
forward captures (a decoder layer no longer receives the 2-D mask in recent transformers).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from safealign.steer.rules import get_rule, steer_positions


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's stack of decoder layers: the ModuleList as long as `num_hidden_layers`
    (Llama/Mistral/Qwen `model.layers`, GPT-2 `transformer.h`, ...), found by shape, not name."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and len(module) == count:
            return module
    raise ValueError(
        f"Could not find the decoder layers of {type(model).__name__} (no ModuleList with "
        f"config.num_hidden_layers={count} entries); steering needs a decoder-only transformer."
    )


@dataclass
class _MaskHolder:
    """The 2-D attention mask of the forward call in flight (None: every position is text)."""

    mask: Tensor | None = None


@dataclass
class Steering:
    """Steering of one model by per-layer vectors; a context manager that removes its hooks on
    exit, also after an exception. `attach()`/`remove()` serve models steered for their lifetime
    (a steered model folder)."""

    model: nn.Module
    vectors: Mapping[int, Tensor]
    alpha: float
    rule: str = "icv"
    layers: Sequence[int] | None = None
    """Layers to steer (None: every layer the vector has)."""
    handles: list[RemovableHandle] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rule = get_rule(self.rule)
        chosen = list(self.vectors) if self.layers is None else list(self.layers)
        missing = [layer for layer in chosen if layer not in self.vectors]
        if missing:
            raise ValueError(
                f"the steering vector has no entry for layer(s) {missing}; it covers "
                f"{sorted(self.vectors)}"
            )
        self._chosen = sorted(chosen)

    @property
    def active(self) -> bool:
        return bool(self.handles)

    def attach(self) -> Steering:
        if self.active:
            raise RuntimeError("this steering is already attached")
        holder = _MaskHolder()
        layers = decoder_layers(self.model)
        try:
            self.handles.append(
                self.model.register_forward_pre_hook(
                    _mask_capture(self.model, holder), with_kwargs=True
                )
            )
            for index in self._chosen:
                # moved once to the layer's device, not on every forward call
                device = next(layers[index].parameters()).device
                vector = self.vectors[index].to(device, torch.float32)
                hook = _layer_hook(vector, self.alpha, self._rule, holder)
                self.handles.append(layers[index].register_forward_hook(hook))
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        while self.handles:
            self.handles.pop().remove()

    def __enter__(self) -> Steering:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _mask_capture(model: nn.Module, holder: _MaskHolder):
    names = list(inspect.signature(model.forward).parameters)
    position = names.index("attention_mask") if "attention_mask" in names else None

    def hook(_module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        mask = kwargs.get("attention_mask")
        if mask is None and position is not None and len(args) > position:
            mask = args[position]
        # Only a 2-D padding mask says which positions are text; a custom 4-D mask does not.
        holder.mask = mask if isinstance(mask, Tensor) and mask.dim() == 2 else None

    return hook


def _layer_hook(vector: Tensor, alpha: float, rule, holder: _MaskHolder):
    def hook(_module: nn.Module, _args: tuple, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        mask = holder.mask
        # The mask spans past + current tokens; this call's positions are its last columns.
        current = mask[:, -hidden.shape[1] :] if mask is not None else None
        if current is not None and current.shape[0] != hidden.shape[0]:
            current = None  # a mask for another batch shape: steer everything rather than guess
        steered = steer_positions(hidden, vector, alpha, rule, current)
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    return hook
