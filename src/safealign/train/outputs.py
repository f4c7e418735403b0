"""What a training run leaves behind: a PEFT adapter, or a merged plain checkpoint.

A merged folder is an ordinary transformers checkpoint, so every other verb loads it with
`load_model(path)`; an adapter folder is loaded with `load_trained(path)`, which finds the base
model from the spec recorded beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from safealign.errors import ModelLoadError
from safealign.io import atomic_path
from safealign.models import LoadedModel, load_model

ADAPTER_META = "safealign_adapter.json"


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

    With `merge` the adapter is folded into the weights: plain, faster inference.
    """
    path = Path(path)
    if (path / "adapter" / ADAPTER_META).is_file():
        path = path / "adapter"
    elif (path / "model" / "config.json").is_file():
        path = path / "model"
    if (path / "config.json").is_file():
        return load_model(path, dtype=dtype, device=device)
    if not (path / ADAPTER_META).is_file():
        raise ModelLoadError(
            f"{path} holds neither a safealign adapter ({ADAPTER_META}) nor a checkpoint "
            "(config.json). Point to a training run's output_dir, adapter/ or model/ folder."
        )
    from peft import PeftModel

    base = json.loads((path / ADAPTER_META).read_text())["base_model"]
    loaded = load_model(base, dtype=dtype, device=device)
    model = PeftModel.from_pretrained(loaded.model, path)
    loaded.model = (model.merge_and_unload() if merge else model).eval()
    loaded.name = f"{loaded.name}+{path}"
    return loaded
