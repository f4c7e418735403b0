"""Greedy generation through CTranslate2 for plain checkpoints: same prompts, same tokens out.

CTranslate2 runs a Llama-architecture decoder with its own fused CPU kernels and KV cache, so a
decode step costs little beyond its matrix products. It runs the weights as converted, not the
PyTorch modules, so it can serve a model only when nothing changes what the modules compute:
no forward hooks (steering), no unmerged adapter, and weights still equal to the ones converted
(checked by a checksum of every parameter). `unavailable_reason` says which condition failed,
and the caller falls back to PyTorch and says so.

Conversions are cached under `safealign_home()/ctranslate2/<checksum>`, written atomically;
only the most recently used few are kept (`SAFEALIGN_CT2_KEEP`, default 3: one embedded-size
conversion is about 540 MB, and every edited or merged model makes a new one).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import torch
from torch import nn

from safealign.errors import ConfigError
from safealign.io import atomic_path
from safealign.models.loading import LoadedModel
from safealign.models.paths import safealign_home

ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM")
"""Architectures whose CTranslate2 conversion we have checked token for token (Llama) or that
share its decoder layout; any other falls back to PyTorch."""


def unavailable_reason(loaded: LoadedModel) -> str | None:
    """Why CTranslate2 cannot generate what `loaded.model` would, or None when it can."""
    if importlib.util.find_spec("ctranslate2") is None:
        return "ctranslate2 is not installed (pip install ctranslate2)"
    model = loaded.model
    if loaded.device.type != "cpu":
        return f"the model is on {loaded.device.type}; the CTranslate2 path serves CPU models"
    if hasattr(model, "peft_config"):
        return "the model carries an unmerged adapter"
    architectures = getattr(model.config, "architectures", None) or [type(model).__name__]
    if not set(architectures) & set(ARCHITECTURES):
        return f"architecture {architectures[0]} is not one CTranslate2 is used for here"
    if hooked := _hooked_modules(model):
        return f"forward hooks are registered on {hooked[0]} (steering runs only in PyTorch)"
    if processors := _logits_processors(model):
        return f"the model's generation_config sets {processors[0]}, which only torch applies"
    return None


GREEDY_NEUTRAL = {
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "sequence_bias": (None,),
}
"""Generation-config fields that change greedy decoding in transformers unless at these values."""


def _logits_processors(model: nn.Module) -> list[str]:
    config = getattr(model, "generation_config", None)
    return [
        f"{name}={getattr(config, name)!r}"
        for name, neutral in GREEDY_NEUTRAL.items()
        if getattr(config, name, None) not in neutral
    ]


def generate_greedy(
    loaded: LoadedModel,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    stop_ids: list[int],
    batch_size: int,
    compute_type: str = "float32",
) -> list[list[int]]:
    """Greedy continuations of token-id prompts, each cut before its first stop token."""
    generator = _generator(str(converted_checkpoint(loaded)), compute_type)
    tokenizer = loaded.tokenizer
    results = generator.generate_batch(
        [tokenizer.convert_ids_to_tokens(prompt) for prompt in prompts],
        max_batch_size=batch_size,
        max_length=max_new_tokens,
        sampling_topk=1,
        end_token=stop_ids,
        include_prompt_in_result=False,
    )
    return [result.sequences_ids[0][:max_new_tokens] for result in results]


def converted_checkpoint(loaded: LoadedModel) -> Path:
    """The CTranslate2 conversion of the model's current weights, converting on first use."""
    cache = safealign_home() / "ctranslate2"
    target = cache / weights_checksum(loaded.model)
    if (target / "model.bin").is_file():
        os.utime(target)  # most recently used: the last to be pruned
        return target
    import ctranslate2  # optional dependency, imported only when a conversion is needed

    with tempfile.TemporaryDirectory(prefix="safealign-ct2-") as scratch:
        loaded.model.save_pretrained(scratch)
        loaded.tokenizer.save_pretrained(scratch)
        converter = ctranslate2.converters.TransformersConverter(scratch, load_as_float16=False)
        with contextlib.suppress(FileExistsError), atomic_path(target) as staged:
            converter.convert(str(staged), force=True)
            if (target / "model.bin").is_file():  # another process won the race: keep its copy
                raise FileExistsError(target)
    prune_conversions(cache, keep=_kept_conversions(), spare=target)
    return target


def prune_conversions(cache: Path, keep: int, spare: Path | None = None) -> list[Path]:
    """Remove all but the `keep` most recently used conversions in `cache` (never `spare`, nor a
    folder still being written); returns what was removed. A generator already running on a
    removed conversion keeps working: CTranslate2 holds the weights in memory."""
    finished = [p for p in cache.iterdir() if p.is_dir() and (p / "model.bin").is_file()]
    finished.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for path in finished[max(keep, 1) :]:
        if spare is not None and path == spare:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _kept_conversions() -> int:
    value = os.environ.get(KEEP_ENV, "3")
    try:
        return max(int(value), 1)
    except ValueError:
        raise ConfigError(
            f"{KEEP_ENV}={value!r} is not a whole number: set it to how many CTranslate2 "
            "conversions to keep, e.g. 3."
        ) from None


KEEP_ENV = "SAFEALIGN_CT2_KEEP"


def weights_checksum(model: nn.Module) -> str:
    """A digest of every parameter's name, shape, dtype and value sums: weights changed in place
    (an ablated direction, a merged adapter) give another digest, hence another conversion.

    Remembered per model while no tensor is replaced or written in place (PyTorch counts every
    in-place write in `tensor._version`), so repeated calls cost a walk over the tensors only.
    """
    state = model.state_dict()
    try:
        signature = tuple((t.data_ptr(), t._version) for t in state.values())
    except RuntimeError:  # tensors made under inference_mode keep no version counter
        signature = None
    remembered = _CHECKSUMS.get(model)
    if signature is not None and remembered is not None and remembered[0] == signature:
        return remembered[1]
    checksum = _checksum(state, type(model).__name__)
    _CHECKSUMS[model] = (signature, checksum)
    return checksum


_CHECKSUMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _checksum(state: dict[str, torch.Tensor], kind: str) -> str:
    digest = hashlib.sha256(kind.encode())
    with torch.no_grad():
        for name, tensor in state.items():
            values = tensor.detach().double()
            digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(f"{values.sum().item():.10e}{values.abs().sum().item():.10e}".encode())
            digest.update(f"{(values * values).sum().item():.10e}".encode())
    return digest.hexdigest()[:24]


@functools.lru_cache(maxsize=4)
def _generator(path: str, compute_type: str):
    import ctranslate2  # optional dependency

    threads = torch.get_num_threads()
    return ctranslate2.Generator(
        path, device="cpu", compute_type=compute_type, intra_threads=threads, inter_threads=1
    )


def _hooked_modules(model: nn.Module) -> list[str]:
    hooked = [
        name or type(model).__name__
        for name, module in model.named_modules()
        if module._forward_hooks or module._forward_pre_hooks
    ]
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        hooked.insert(0, "every module (global hooks)")
    return hooked
