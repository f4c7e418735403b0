from dataclasses import dataclass, field

import pytest

from safealign.config import load_config
from safealign.errors import ConfigError, DataError
from safealign.io import atomic_path, read_jsonl, write_jsonl_atomic


@dataclass
class Inner:
    rank: int = 16


@dataclass
class Outer:
    model: str = "embedded"
    steps: int = 10
    lora: Inner = field(default_factory=Inner)


def test_yaml_then_flags_override_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: tiny\nsteps: 3\nlora:\n  rank: 4\n")
    config = load_config(Outer, path, {"steps": 7, "model": None})
    assert config == Outer(model="tiny", steps=7, lora=Inner(rank=4))


def test_yaml_section_is_picked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  steps: 2\neval:\n  steps: 9\n")
    assert load_config(Outer, path, section="eval").steps == 9


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stepz: 3\n")
    with pytest.raises(ConfigError, match="unknown key\\(s\\) stepz for Outer"):
        load_config(Outer, path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "nope.yaml")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl_atomic(target, [{"a": 1}])
    with pytest.raises(RuntimeError), atomic_path(target) as staged:
        staged.write_text("half")
        raise RuntimeError("crash")
    assert read_jsonl(target) == [{"a": 1}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_data_error_renders_location_and_fix():
    error = DataError(
        "must be 0 or 1, got 'yes'.",
        path="p.jsonl",
        line=17,
        field="safer_response_id",
        fix="Fix the row.",
    )
    assert str(error) == (
        "p.jsonl line 17: field \"safer_response_id\": must be 0 or 1, got 'yes'.\nFix the row."
    )
