"""Other inference engines for the encoder guard's encoder forward, for guard_speed.py and
guard_backend_fidelity.py (issue 14: is there a backend >= 1.2x faster than torch bf16 with the
same verdicts?).

`with_backend(guard, "ctranslate2", "int8")` gives a copy of a float32 guard whose encoder
forward runs in CTranslate2 (`ctranslate2.Encoder`, conversion cached like the generation
path's, see safealign.models.ctranslate2_generation) or onnxruntime (a `torch.onnx.export` of
the merged encoder, dynamic int8 by `quantize_dynamic`); tokenization, windows, pooling, heads
and calibration stay the guard's own. Measured, none kept the verdicts within the bounds while
beating torch bf16 by 1.2x (docs/guard.md, Speed), so they live here and not in the library.
"""

from __future__ import annotations

import copy
import importlib.util
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor, nn

from safealign.guard.encoder_guard import EncoderGuard
from safealign.models.ctranslate2_generation import converted_checkpoint

BACKENDS = {
    "ctranslate2": ("float32", "int8"),
    "onnxruntime": ("float32", "int8"),
}
"""Backend -> compute types tried (CTranslate2's bfloat16 types are refused on this CPU build:
"the target device or backend do not support efficient bfloat16 computation")."""
PACKAGES = {"ctranslate2": "ctranslate2", "onnxruntime": "onnxruntime onnx"}


def with_backend(guard: EncoderGuard, backend: str, compute_type: str) -> EncoderGuard:
    """A copy of float32 `guard` whose encoder forward runs in `backend` at `compute_type`."""
    if backend not in BACKENDS or compute_type not in BACKENDS[backend]:
        raise ValueError(f"unknown backend {backend}:{compute_type}; choose from {BACKENDS}")
    if importlib.util.find_spec(backend) is None:
        raise ImportError(f"{backend} is not installed: pip install {PACKAGES[backend]}")
    if next(guard.encoder.parameters()).dtype != torch.float32:
        raise ValueError("convert a float32 guard: load_guard(spec, dtype='float32')")
    threads = torch.get_num_threads()
    if backend == "ctranslate2":
        engine = CTranslate2Encoder(guard, compute_type, threads)
    else:
        engine = OnnxEncoder(guard, compute_type, threads)
    fast = copy.copy(guard)
    fast.encoder = engine
    return fast


class CTranslate2Encoder:
    """The encoder forward through `ctranslate2.Encoder` (rows passed unpadded)."""

    def __init__(self, guard: EncoderGuard, compute_type: str, threads: int) -> None:
        import ctranslate2

        loaded = SimpleNamespace(model=guard.encoder, tokenizer=guard.tokenizer)
        path = converted_checkpoint(loaded)  # cached by weights checksum, SAFEALIGN_CT2_KEEP
        self.engine = ctranslate2.Encoder(
            str(path), device="cpu", compute_type=compute_type, intra_threads=threads
        )

    def train(self, mode: bool = True) -> CTranslate2Encoder:
        return self

    def __call__(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor):
        lengths = attention_mask.sum(1).tolist()
        ids = [row[:n].tolist() for row, n in zip(input_ids, lengths, strict=True)]
        types = [row[:n].tolist() for row, n in zip(token_type_ids, lengths, strict=True)]
        out = self.engine.forward_batch(ids, token_type_ids=types).last_hidden_state
        return SimpleNamespace(last_hidden_state=torch.as_tensor(np.asarray(out)))


class OnnxEncoder:
    """The encoder forward through an onnxruntime session of the exported encoder."""

    INPUTS = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, guard: EncoderGuard, compute_type: str, threads: int) -> None:
        import onnxruntime

        self.scratch = tempfile.TemporaryDirectory(prefix="safealign-onnx-")
        path = export_onnx(guard.encoder, guard.tokenizer, Path(self.scratch.name))
        if compute_type == "int8":
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantized = path.with_name("encoder-int8.onnx")
            quantize_dynamic(
                path,
                quantized,
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            path = quantized
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def train(self, mode: bool = True) -> OnnxEncoder:
        return self

    def __call__(self, **batch: Tensor):
        feeds = {name: batch[name].numpy() for name in self.INPUTS}
        (hidden,) = self.session.run(None, feeds)
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))


class _LastHidden(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def export_onnx(encoder: nn.Module, tokenizer, folder: Path) -> Path:
    """`folder/encoder.onnx`: the encoder with batch and sequence axes dynamic."""
    sample = tokenizer(["an example request", "a longer example request here"], padding=True)
    inputs = tuple(torch.tensor(sample[name]) for name in OnnxEncoder.INPUTS[:2])
    inputs += (torch.zeros_like(inputs[0]),)
    path = folder / "encoder.onnx"
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        _LastHidden(encoder).eval(),
        inputs,
        str(path),
        input_names=list(OnnxEncoder.INPUTS),
        output_names=["last_hidden_state"],
        dynamic_axes=dict.fromkeys([*OnnxEncoder.INPUTS, "last_hidden_state"], axes),
        opset_version=17,
        dynamo=False,
    )
    return path
