"""`SteeringVector`: per-layer activation directions as data, saved as safetensors with metadata.

A vector records the model it was read from (name plus an architecture fingerprint: type,
layers, hidden size), how it was built and from what data, and the safealign version. Loading
it onto a model with another architecture or hidden size is refused with a clear error; a model
of the same architecture under another name (a fine-tuned or edited copy) is accepted, because
applying a base model's vector to its edited copy is exactly Safety Arithmetic's "both" setting.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor, nn

from safealign import __version__
from safealign.errors import SafealignError
from safealign.io import atomic_path
from safealign.steer.hooks import Steering

FORMAT = "safealign-steering-vector"
FORMAT_VERSION = 1

log = logging.getLogger(__name__)


class SteeringVectorError(SafealignError):
    """A steering vector file that cannot be read, or does not fit the model it is applied to."""


@dataclass(frozen=True)
class ModelFingerprint:
    """What must match between the model a vector was read from and the one it steers."""

    model_type: str
    num_layers: int
    hidden_size: int

    @classmethod
    def of(cls, model: nn.Module) -> ModelFingerprint:
        config = model.config
        return cls(
            model_type=str(getattr(config, "model_type", "unknown")),
            num_layers=int(config.num_hidden_layers),
            hidden_size=int(config.hidden_size),
        )


@dataclass
class SteeringVector:
    """Per-layer vectors (layer index -> tensor of `hidden_size`) plus their provenance."""

    layer_vectors: dict[int, Tensor]
    model: str
    """Name of the model the activations were read from."""
    fingerprint: ModelFingerprint
    method: str
    """"mean-difference" or "icv" (first principal direction of the differences)."""
    read_position: str
    """Where activations were read: "last" token or "mean-last-K"."""
    source: str
    """The contrast data: dataset paths and counts."""
    num_pairs: int
    safealign_version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> list[int]:
        return sorted(self.layer_vectors)

    @property
    def hidden_size(self) -> int:
        return self.fingerprint.hidden_size

    def check_fits(self, model: nn.Module, model_name: str | None = None) -> None:
        """Raise SteeringVectorError when this vector was made for another architecture."""
        theirs = ModelFingerprint.of(model)
        if theirs != self.fingerprint:
            ours = self.fingerprint
            raise SteeringVectorError(
                f"This steering vector was read from {self.model} ({ours.model_type}, "
                f"{ours.num_layers} layers, hidden size {ours.hidden_size}) "
                f"and cannot steer a {theirs.model_type} model with {theirs.num_layers} layers and "
                f"hidden size {theirs.hidden_size}. Build a vector for this model with "
                "`safealign steer icv --model ...`."
            )
        if model_name is not None and model_name != self.model:
            log.info(
                "steering %s with a vector read from %s (same architecture)", model_name, self.model
            )

    def apply(
        self,
        model: Any,
        alpha: float,
        *,
        rule: str = "icv",
        layers: list[int] | None = None,
    ) -> Steering:
        """`with vector.apply(model, alpha=0.12): ...` steers every forward pass in the block.

        `model` is a LoadedModel or a transformers model; negative alpha steers the other way."""
        module = getattr(model, "model", model) if not isinstance(model, nn.Module) else model
        self.check_fits(module, getattr(model, "name", None))
        return Steering(module, self.layer_vectors, alpha, rule=rule, layers=layers)

    def save(self, path: str | Path) -> Path:
        """Write `path` (.safetensors): tensors `layer.<i>`, provenance in the header metadata."""
        path = Path(path)
        tensors = {
            f"layer.{i}": v.detach().float().contiguous().cpu()
            for i, v in self.layer_vectors.items()
        }
        metadata = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "model": self.model,
            "model_type": self.fingerprint.model_type,
            "num_layers": str(self.fingerprint.num_layers),
            "hidden_size": str(self.fingerprint.hidden_size),
            "method": self.method,
            "read_position": self.read_position,
            "source": self.source,
            "num_pairs": str(self.num_pairs),
            "safealign_version": self.safealign_version,
            "extra": json.dumps(self.extra),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as staged:
            save_file(tensors, str(staged), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SteeringVector:
        path = Path(path)
        if not path.is_file():
            raise SteeringVectorError(
                f"{path}: steering vector file not found. Build one with `safealign steer icv`."
            )
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise SteeringVectorError(f"{path}: not a readable safetensors file ({exc}).") from exc
        if metadata.get("format") != FORMAT:
            raise SteeringVectorError(
                f"{path}: not a safealign steering vector (header format "
                f"{metadata.get('format')!r}, expected {FORMAT!r})."
            )
        try:
            fingerprint = ModelFingerprint(
                metadata["model_type"], int(metadata["num_layers"]), int(metadata["hidden_size"])
            )
            vectors = {int(name.split(".", 1)[1]): t for name, t in tensors.items()}
        except (KeyError, ValueError, IndexError) as exc:
            raise SteeringVectorError(f"{path}: damaged header or tensor names ({exc}).") from exc
        wrong = [i for i, v in vectors.items() if v.shape != (fingerprint.hidden_size,)]
        if wrong:
            raise SteeringVectorError(
                f"{path}: layer(s) {wrong} do not have the recorded hidden size "
                f"{fingerprint.hidden_size}."
            )
        return cls(
            layer_vectors=vectors,
            model=metadata.get("model", "unknown"),
            fingerprint=fingerprint,
            method=metadata.get("method", "unknown"),
            read_position=metadata.get("read_position", "unknown"),
            source=metadata.get("source", ""),
            num_pairs=int(metadata.get("num_pairs", "0")),
            safealign_version=metadata.get("safealign_version", "unknown"),
            extra=json.loads(metadata.get("extra", "{}")),
        )

    def scaled_norms(self) -> dict[int, float]:
        """Per-layer vector norms (for reports)."""
        return {
            i: float(torch.linalg.vector_norm(v)) for i, v in sorted(self.layer_vectors.items())
        }
