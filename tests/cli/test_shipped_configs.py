"""Every YAML file under configs/ loads through the loader its verb uses (typed, no unknown key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from safealign.config import load_config, read_config_section
from safealign.evaluate import get_task, load_eval_config
from safealign.evaluate.task import resolve_settings
from safealign.guard.mixture import MixtureTrainConfig
from safealign.guard.recipe import GuardTrainConfig, LLMGuardRecipeConfig
from safealign.pipeline import load_run_config
from safealign.serve.config import ServeConfig
from safealign.steer.config import (
    ApplyConfig,
    HarmVectorConfig,
    IcvConfig,
    KnowledgeEditConfig,
    SafetyArithmeticConfig,
)
from safealign.train.config import TrainConfig
from safealign.train.synthesis import CourseCorrectionConfig, RedTeamConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SECTIONS = {
    ("train", "train"): TrainConfig,
    ("train", "course_correction"): CourseCorrectionConfig,
    ("train", "redteam"): RedTeamConfig,
    ("guard", "train"): GuardTrainConfig,
    ("guard", "train_llm"): LLMGuardRecipeConfig,
    ("guard", "train_mixture"): MixtureTrainConfig,
    ("serve", "serve"): ServeConfig,
    ("steer", "icv"): IcvConfig,
    ("steer", "apply"): ApplyConfig,
    ("steer", "harm_vector"): HarmVectorConfig,
    ("steer", "safety_arithmetic"): SafetyArithmeticConfig,
    ("steer", "knowledge_edit"): KnowledgeEditConfig,
}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*/*.yaml")), ids=lambda p: p.name)
def test_shipped_config_loads(path):
    folder = path.parent.name
    if folder == "run":  # one file per run, every section checked (safealign.pipeline.config)
        load_run_config(path)
        return
    if folder == "eval":
        config = load_eval_config(path)
        resolve_settings(get_task(config.task), config)
        return
    sections = [s for (f, s) in SECTIONS if f == folder]
    data, _ = read_config_section(path)
    assert set(data) <= set(sections), f"{path}: sections {set(data) - set(sections)} unknown"
    for section in data:
        load_config(SECTIONS[(folder, section)], path, section=section)
