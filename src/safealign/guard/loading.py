"""`load_guard`: one entry point for every guard a user can name."""

from __future__ import annotations

from pathlib import Path

from safealign.errors import ModelLoadError
from safealign.guard.encoder_guard import CONFIG_FILE as ENCODER_CONFIG
from safealign.guard.encoder_guard import EncoderGuard
from safealign.guard.hub_guard import HubGuard
from safealign.guard.llm_guard import CONFIG_FILE as LLM_CONFIG
from safealign.guard.llm_guard import LLMGuard, LLMGuardConfig
from safealign.guard.verdict import Guard

DEFAULT_GUARD_DIR = Path(__file__).parent / "default"
PREVIOUS_GUARD_DIR = Path(__file__).parent / "previous"
"""The default the current one replaced, kept so `guard eval --targets` compares them."""


def load_guard(spec: str = "embedded", *, dtype: str = "float32") -> Guard:
    """ "embedded" (the shipped encoder guard, offline), a folder saved by an encoder or LLM guard,
    "llm:<model spec>" for a zero-shot LLM guard over any causal LM, or "hub:<id>" (or
    "hub:<family>=<id or folder>") for a published guard model read with its own prompt format
    (Llama Guard 3/4, ShieldGemma, WildGuard, Qwen3Guard-Gen, NemoGuard, Granite Guardian)."""
    if spec.startswith("hub:"):
        return HubGuard.from_spec(spec[4:], dtype=dtype)
    if spec.startswith("llm:"):
        model = spec[4:] or "embedded"
        return LLMGuard.from_spec(model, LLMGuardConfig(model=model, dtype=dtype))
    named = {"embedded": DEFAULT_GUARD_DIR, "previous": PREVIOUS_GUARD_DIR}
    path = named.get(spec, Path(spec))
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
        f"{spec!r} is not a guard: give 'embedded', 'llm:<model spec>' (e.g. llm:embedded), "
        "'hub:<id>' (e.g. hub:meta-llama/Llama-Guard-3-8B), or a "
        "folder written by `safealign guard train`."
    )
