"""`load_guard`: one entry point for every guard a user can name."""

from __future__ import annotations

from pathlib import Path

from safealign.errors import ModelLoadError
from safealign.guard.encoder_guard import CONFIG_FILE as ENCODER_CONFIG
from safealign.guard.encoder_guard import EncoderGuard
from safealign.guard.llm_guard import CONFIG_FILE as LLM_CONFIG
from safealign.guard.llm_guard import LLMGuard, LLMGuardConfig
from safealign.guard.verdict import Guard

DEFAULT_GUARD_DIR = Path(__file__).parent / "default"


def load_guard(spec: str = "embedded", *, dtype: str = "float32") -> Guard:
    """ "embedded" (the shipped encoder guard, offline), a folder saved by an encoder or LLM guard,
    or "llm:<model spec>" for a zero-shot LLM guard over any causal LM."""
    if spec.startswith("llm:"):
        model = spec[4:] or "embedded"
        return LLMGuard.from_spec(model, LLMGuardConfig(model=model, dtype=dtype))
    path = DEFAULT_GUARD_DIR if spec == "embedded" else Path(spec)
    if (path / ENCODER_CONFIG).is_file():
        return EncoderGuard.load(path, dtype=dtype)
    if (path / LLM_CONFIG).is_file():
        return LLMGuard.from_spec(str(path))
    if spec == "embedded":
        raise ModelLoadError(
            f"the embedded guard is missing from {path}; rebuild it with "
            "`safealign guard train --config configs/guard/default.yaml`."
        )
    raise ModelLoadError(
        f"{spec!r} is not a guard: give 'embedded', 'llm:<model spec>' (e.g. llm:embedded), or a "
        "folder written by `safealign guard train`."
    )
