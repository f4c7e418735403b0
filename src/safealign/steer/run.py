"""The steer verbs as library calls: config in, files out (the CLI only prints the results)."""

from __future__ import annotations

from pathlib import Path

from safealign.models import load_model
from safealign.steer.config import ApplyConfig, IcvConfig
from safealign.steer.contrast import build_steering_vector
from safealign.steer.harm_data import contrast_pairs, shared_data_dir
from safealign.steer.model_folder import write_steered_model
from safealign.steer.steering_vector import SteeringVector


def build_icv(config: IcvConfig) -> SteeringVector:
    """Read contrast pairs from the shared data, build the vector, save it to `config.output`."""
    pairs = contrast_pairs(config.sources, config.num_pairs, config.data_dir, config.seed)
    loaded = load_model(config.model, dtype=config.dtype)
    counts = {s: sum(p.source == s for p in pairs) for s in config.sources}
    source = f"{shared_data_dir(config.data_dir)}: " + ", ".join(
        f"{name} ({n} pairs)" for name, n in counts.items()
    )
    vector = build_steering_vector(
        loaded,
        pairs,
        method=config.method,
        last_k=config.last_k,
        max_answer_tokens=config.max_answer_tokens,
        batch_size=config.batch_size,
        source=source,
    )
    vector.save(config.output)
    return vector


def apply_steering(config: ApplyConfig) -> Path:
    """Write a steered model folder (manifest + vector); `load_model(folder)` steers."""
    return write_steered_model(
        config.output,
        config.model,
        config.vector,
        alpha=config.alpha,
        rule=config.rule,
        layers=config.layers,
    )
