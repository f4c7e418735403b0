"""What a training run leaves behind: a PEFT adapter, or a merged plain checkpoint.

A merged folder is an ordinary transformers checkpoint; an adapter folder records the base model
spec beside it. `load_model` loads either (and a whole run folder), so every verb takes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from safealign.errors import ModelLoadError
from safealign.io import atomic_path
from safealign.models import LoadedModel, load_model
from safealign.models.loading import ADAPTER_META, load_adapter


def save_policy(
    loaded: LoadedModel, output_dir: str | Path, *, base_model: str, merge: bool = False
) -> tuple[Path | None, Path | None]:
    """Write `adapter/` for a PEFT model (and `model/` merged when `merge`); `model/` for a
    fully fine-tuned one. Returns (adapter_dir, merged_dir). Merging replaces `loaded.model`."""
    output_dir = Path(output_dir)
    adapter_dir = merged_dir = None
    model = loaded.model
    if hasattr(model, "peft_config"):
        adapter_dir = output_dir / "adapter"
        with atomic_path(adapter_dir) as staged:
            model.save_pretrained(staged)
            loaded.tokenizer.save_pretrained(staged)
            (staged / ADAPTER_META).write_text(json.dumps({"base_model": base_model}, indent=2))
        if merge:
            loaded.model = model = model.merge_and_unload()
    if merge or adapter_dir is None:
        merged_dir = output_dir / "model"
        with atomic_path(merged_dir) as staged:
            model.save_pretrained(staged)
            loaded.tokenizer.save_pretrained(staged)
    return adapter_dir, merged_dir


def load_trained(
    path: str | Path,
    *,
    dtype: str = "float32",
    device: str | None = None,
    merge: bool = True,
) -> LoadedModel:
    """Load a run's `adapter/` (onto its recorded base model) or `model/` folder, or a run folder.

    With `merge` (the default, as `load_model` does) the adapter is folded into the weights;
    without it the PEFT model is kept, e.g. to train the adapter further.
    """
    path = Path(path)
    if merge:
        return load_model(path, dtype=dtype, device=device)
    if (path / "adapter" / ADAPTER_META).is_file():
        path = path / "adapter"
    if not (path / ADAPTER_META).is_file():
        raise ModelLoadError(
            f"{path} holds no safealign adapter ({ADAPTER_META}): point to a training run's "
            "output_dir or its adapter/ folder, or load a checkpoint with merge=True."
        )
    return load_adapter(path, dtype=dtype, device=device, merge=False)
