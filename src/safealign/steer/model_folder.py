"""Steered and edited models as folders that every verb loads like any model.

A folder's `safealign_model.json` names its base (a spec, or nothing when the folder holds the
edited checkpoint itself) and its steering: `[{"vector": file, "alpha", "rule", "layers"}]`.
`load_model` reads the manifest and calls `attach_steering` (registered below), which hooks the
vectors onto the loaded model for its lifetime; the hooks are kept in `loaded.attachments`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from safealign import __version__
from safealign.errors import ModelLoadError
from safealign.io import write_json_atomic
from safealign.models import LoadedModel
from safealign.models.loading import MODEL_MANIFEST, register_model_extension
from safealign.steer.steering_vector import SteeringVector

PLUGIN = "safealign.steer"


def steering_entry(
    vector_file: str, alpha: float, rule: str, layers: list[int] | None
) -> dict[str, Any]:
    return {"vector": vector_file, "alpha": alpha, "rule": rule, "layers": layers}


def write_model_manifest(
    folder: str | Path,
    *,
    base: str | None,
    steering: list[dict[str, Any]] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write `folder/safealign_model.json`. `base` None means the folder is the checkpoint."""
    manifest: dict[str, Any] = {"format": 1}
    if base is not None:
        manifest["base"] = base
    if steering:
        manifest["plugins"] = [PLUGIN]
        manifest["steering"] = steering
    manifest["provenance"] = {"safealign_version": __version__, **(provenance or {})}
    return write_json_atomic(Path(folder) / MODEL_MANIFEST, manifest)


def write_steered_model(
    output: str | Path,
    base: str,
    vector: str | Path,
    *,
    alpha: float,
    rule: str = "icv",
    layers: list[int] | None = None,
) -> Path:
    """A folder holding a copy of the vector and a manifest pointing at `base`; the vector is
    checked to load before anything is written."""
    output, vector = Path(output), Path(vector)
    loaded_vector = SteeringVector.load(vector)
    if layers is not None:
        missing = sorted(set(layers) - set(loaded_vector.layers))
        if missing:
            raise ModelLoadError(f"{vector} has no vector for layer(s) {missing}.")
    output.mkdir(parents=True, exist_ok=True)
    shutil.copy2(vector, output / "steering_vector.safetensors")
    base_path = Path(base).expanduser()
    recorded = str(base_path.resolve()) if base_path.exists() else base
    write_model_manifest(
        output,
        base=recorded,
        steering=[steering_entry("steering_vector.safetensors", alpha, rule, layers)],
        provenance={"vector_source": str(vector), "vector_method": loaded_vector.method},
    )
    return output


def attach_steering(loaded: LoadedModel, folder: Path, entries: Any) -> None:
    """The manifest extension "steering": attach each listed vector for the model's lifetime."""
    if not isinstance(entries, list):
        raise ModelLoadError(f'{folder / MODEL_MANIFEST}: "steering" must be a list of entries.')
    for number, entry in enumerate(entries):
        try:
            vector = SteeringVector.load(folder / entry["vector"])
            steering = vector.apply(
                loaded,
                float(entry["alpha"]),
                rule=entry.get("rule", "icv"),
                layers=entry.get("layers"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(
                f"{folder / MODEL_MANIFEST}: steering entry {number}: {exc}. Each entry needs "
                '"vector" (a file in the folder) and "alpha"; "rule" and "layers" are optional.'
            ) from exc
        loaded.attachments.append(steering.attach())
        label = f"steer:{entry.get('rule', 'icv')}@{entry['alpha']}"
        loaded.name = f"{loaded.name}+{label}"
    loaded.name = f"{loaded.name} ({folder})"


def read_manifest(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / MODEL_MANIFEST).read_text())


register_model_extension("steering", attach_steering)
