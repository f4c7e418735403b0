"""What the `safealign run` tests share: a run config written as a user writes it, and the
status of each stage of a summary."""

from __future__ import annotations

from pathlib import Path

import yaml

from safealign.pipeline import RunSummary


def run_yaml(folder: Path, model: Path, **changes) -> Path:
    """A two-variant run (bfpo, icv) with tiny limits, written as the user would write it;
    `changes` replace top-level keys (None drops a stage)."""
    config = {
        "name": "tiny",
        "model": str(model),
        "dtype": "float32",
        "output_dir": str(folder / "run"),
        "evaluation": {
            "tasks": [{"task": "suite", "settings": {"harmful": 3, "benign": 3}}],
            "max_new_tokens": 4,
            "samples": 2,
            "resamples": 50,
        },
        "redteam": {
            "prompts": "builtin",
            "builtin_limit": 6,
            "synthesis": {"num_samples": 1, "max_new_tokens": 4, "max_pairs_per_prompt": 1},
        },
        "train": {"runs": [{"name": "bfpo", "config": tiny_train_config()}]},
        "steer": {"icv": {"pairs": "redteam", "alpha": 0.1, "vector": {"num_pairs": 4}}},
        "targets": [{"task": "suite", "measure": "harmful_compliance", "limit": 0.1}],
    }
    for key, value in changes.items():
        config[key] = value
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def tiny_train_config(**changes) -> dict:
    """BFPO for 3 steps of one pair, a checkpoint every step."""
    return {
        "loss": {"name": "bfpo", "beta": 2.0},
        "pairs": "bfpo",
        "max_steps": 3,
        "batch_size": 1,
        "gradient_accumulation_steps": 1,
        "max_length": 64,
        "max_prompt_length": 32,
        "save_every": 1,
        "learning_rate": 1.0e-2,
        "progress": False,
        **changes,
    }


def statuses(summary: RunSummary) -> dict[str, str]:
    return {record.name: record.status for record in summary.stages}
