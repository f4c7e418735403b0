"""Reference log-probs: from the base model with the adapter off, or precomputed and cached.

The reference model never changes during training, so its log-probs for every pair can be
computed once, stored beside the run, and looked up by pair index: each step then runs only the
policy. The cache is keyed by a fingerprint of the model and the token ids, so stale caches are
recomputed rather than trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm.auto import tqdm

from safealign.io import atomic_path
from safealign.models.logprobs import collated_logprobs
from safealign.train.pairs import TokenizedPreferencePair

CACHE_NAME = "reference_logprobs.safetensors"


@contextlib.contextmanager
def reference_mode(model: nn.Module, reference: nn.Module | None) -> Iterator[nn.Module]:
    """The module that plays the reference: a frozen copy if given, else `model` with its
    LoRA adapter disabled (the base weights), always without gradients."""
    with torch.no_grad():
        if reference is not None:
            yield reference
        else:
            with model.disable_adapter():
                yield model


def precompute_reference(
    model: nn.Module,
    reference: nn.Module | None,
    pairs: Sequence[TokenizedPreferencePair],
    collate: Callable[[list[TokenizedPreferencePair]], dict[str, Tensor]],
    *,
    batch_size: int,
    device: torch.device,
    cache_dir: str | Path | None,
    fingerprint: str,
    progress: bool = True,
) -> dict[str, Tensor]:
    """Reference summed log-probs of every chosen and rejected response, by pair index.

    Returns {"chosen": [N], "rejected": [N]}; read from `cache_dir` when its fingerprint matches.
    """
    cache = Path(cache_dir) / CACHE_NAME if cache_dir is not None else None
    if cache is not None and cache.is_file():
        stored = load_file(str(cache))
        if _fingerprint_tensor(fingerprint).equal(stored.get("fingerprint", torch.zeros(0))):
            return {"chosen": stored["chosen"], "rejected": stored["rejected"]}
    chosen = torch.zeros(len(pairs))
    rejected = torch.zeros(len(pairs))
    was_training = model.training
    model.eval()
    batches = range(0, len(pairs), batch_size)
    for start in tqdm(batches, desc="reference log-probs", disable=not progress):
        batch = collate(list(pairs[start : start + batch_size]))
        rows = len(batch["index"])
        with reference_mode(model, reference) as ref:
            on_device = {k: v.to(device) for k, v in batch.items()}
            logps = collated_logprobs(ref, on_device).sum.float().cpu()
        chosen[batch["index"]] = logps[:rows]
        rejected[batch["index"]] = logps[rows:]
    model.train(was_training)
    result = {"chosen": chosen, "rejected": rejected}
    if cache is not None:
        with atomic_path(cache) as staged:
            save_file({**result, "fingerprint": _fingerprint_tensor(fingerprint)}, str(staged))
    return result


def _fingerprint_tensor(fingerprint: str) -> Tensor:
    digest = hashlib.sha256(fingerprint.encode()).digest()
    return torch.tensor(list(digest), dtype=torch.uint8)
