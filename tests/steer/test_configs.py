"""Every shipped steer config loads into its config class (section by section)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from safealign.config import load_config
from safealign.errors import ConfigError
from safealign.steer.config import (
    ApplyConfig,
    HarmVectorConfig,
    IcvConfig,
    KnowledgeEditConfig,
    SafetyArithmeticConfig,
)

SECTIONS = {
    "icv": IcvConfig,
    "apply": ApplyConfig,
    "harm_vector": HarmVectorConfig,
    "safety_arithmetic": SafetyArithmeticConfig,
    "knowledge_edit": KnowledgeEditConfig,
}
CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "steer").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads(path):
    sections = yaml.safe_load(path.read_text())
    assert sections and set(sections) <= set(SECTIONS)
    for section in sections:
        load_config(SECTIONS[section], path, section=section)


def test_every_field_has_help():
    import dataclasses

    for cls in SECTIONS.values():
        for field in dataclasses.fields(cls):
            assert field.metadata.get("help"), f"{cls.__name__}.{field.name}"


def test_bad_value_names_the_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("icv:\n  method: pca\n")
    with pytest.raises(ConfigError, match="method must be one of mean-difference, icv, got .pca."):
        load_config(IcvConfig, path, section="icv")
