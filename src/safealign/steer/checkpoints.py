"""Reading checkpoints and PEFT adapters tensor by tensor from safetensors, never whole.

A `TensorReader` opens a checkpoint folder's shards lazily (safe_open maps the file; a tensor
is materialised only when asked for), so the task-vector code can hold one tensor of each
model at a time whatever the model size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import torch
from safetensors import safe_open
from torch import Tensor

from safealign.errors import ModelLoadError

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
LAYER_INDEX = re.compile(r"\.layers?\.(\d+)\.|\.h\.(\d+)\.")


def layer_of(name: str) -> int | None:
    """The decoder layer a tensor belongs to (None for embeddings, final norm, head)."""
    match = LAYER_INDEX.search("." + name)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


class TensorReader:
    """Tensors of a safetensors checkpoint folder (one file or an index of shards), by name."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if (self.folder / INDEX_FILE).is_file():
            weight_map = json.loads((self.folder / INDEX_FILE).read_text())["weight_map"]
            self.shard_of: dict[str, str] = dict(weight_map)
        elif (self.folder / SINGLE_FILE).is_file():
            with safe_open(str(self.folder / SINGLE_FILE), framework="pt") as handle:
                self.shard_of = dict.fromkeys(handle.keys(), SINGLE_FILE)
        else:
            raise ModelLoadError(
                f"{self.folder} holds no {SINGLE_FILE} or {INDEX_FILE}: task arithmetic streams "
                "safetensors checkpoints. Re-save the model with save_pretrained "
                "(safe_serialization=True)."
            )
        self._stack = ExitStack()
        self._open: dict[str, object] = {}

    @property
    def names(self) -> list[str]:
        return list(self.shard_of)

    @property
    def shards(self) -> list[str]:
        return sorted(set(self.shard_of.values()))

    def names_in(self, shard: str) -> list[str]:
        return [n for n, s in self.shard_of.items() if s == shard]

    def get(self, name: str) -> Tensor:
        return self.get_handle(name).get_tensor(name)  # type: ignore[attr-defined]

    def layout(self, name: str) -> tuple[torch.dtype, tuple[int, ...]]:
        """A tensor's dtype and shape, read from the header without loading it."""
        self.get_handle(name)
        piece = self._open[self.shard_of[name]].get_slice(name)  # type: ignore[attr-defined]
        return DTYPES_BY_NAME[piece.get_dtype()], tuple(piece.get_shape())

    def get_handle(self, name: str) -> object:
        shard = self.shard_of[name]
        if shard not in self._open:
            self._open[shard] = self._stack.enter_context(
                safe_open(str(self.folder / shard), framework="pt")
            )
        return self._open[shard]

    def close(self) -> None:
        self._stack.close()
        self._open.clear()

    def __enter__(self) -> TensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AdapterDeltas:
    """The weight change a LoRA adapter makes, per base tensor name: scale * B @ A."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        config = json.loads((self.folder / "adapter_config.json").read_text())
        rank = int(config["r"])
        alpha = float(config.get("lora_alpha", rank))
        self.scale = alpha / rank**0.5 if config.get("use_rslora") else alpha / rank
        self.fan_in_fan_out = bool(config.get("fan_in_fan_out", False))
        weights = self.folder / "adapter_model.safetensors"
        if not weights.is_file():
            raise ModelLoadError(
                f"{weights} not found: a PEFT adapter saved as safetensors is needed."
            )
        self._handle = safe_open(str(weights), framework="pt")
        self.pairs: dict[str, tuple[str, str]] = {}
        for key in self._handle.keys():  # noqa: SIM118 (safe_open is not a dict)
            if ".lora_A." in key:
                module = key.split(".lora_A.")[0]
                base = re.sub(r"^base_model\.model\.", "", module) + ".weight"
                self.pairs[base] = (key, key.replace(".lora_A.", ".lora_B."))

    @property
    def names(self) -> list[str]:
        return list(self.pairs)

    def delta(self, name: str) -> Tensor:
        a_key, b_key = self.pairs[name]
        a = self._handle.get_tensor(a_key).float()
        b = self._handle.get_tensor(b_key).float()
        delta = (b @ a) * self.scale
        return delta.T if self.fan_in_fan_out else delta


SAFETENSORS_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def write_safetensors_streamed(
    path: Path, layout: list[tuple[str, torch.dtype, tuple[int, ...]]], tensors: Iterator[Tensor]
) -> None:
    """Write a safetensors file one tensor at a time: the header is computed from `layout`
    (names, dtypes, shapes known up front), then each tensor of `tensors` is written and
    dropped, so a shard is never held whole in memory."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, dtype, shape in layout:
        size = torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size()
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[dtype],
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as handle:
        handle.write(len(encoded).to_bytes(8, "little"))
        handle.write(encoded)
        for (name, dtype, shape), tensor in zip(layout, tensors, strict=True):
            if tensor.dtype != dtype or tuple(tensor.shape) != tuple(shape):
                raise ValueError(
                    f"{name}: expected {dtype} {shape}, got {tensor.dtype} {tuple(tensor.shape)}"
                )
            handle.write(tensor.contiguous().view(torch.uint8).numpy().tobytes())


DTYPES_BY_NAME = {name: dtype for dtype, name in SAFETENSORS_DTYPES.items()}
