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


# -- typed loading -----------------------------------------------------------------------------


@dataclass
class Typed:
    name: str
    rate: float = 0.1
    count: int | None = None
    tags: list[str] = field(default_factory=list)
    lora: Inner = field(default_factory=Inner)


def test_wrong_type_names_file_dotted_key_and_type(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  name: x\n  lora:\n    rank: sixteen\n")
    with pytest.raises(ConfigError) as error:
        load_config(Typed, path, section="train")
    assert str(error.value) == (
        f'{path}, section "train": key "lora.rank" must be an integer, got str \'sixteen\'.'
    )


def test_a_mapping_where_a_scalar_is_expected_and_back(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nlora: bfpo\n")
    with pytest.raises(ConfigError, match=r'key "lora" must be a mapping \(Inner\), got str'):
        load_config(Typed, path)
    path.write_text("name: x\ntags: [a, 3]\n")
    with pytest.raises(ConfigError, match=r'key "tags\[1\]" must be a string, got int 3'):
        load_config(Typed, path)


def test_missing_required_key_is_named_with_its_type(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rate: 0.5\n")
    with pytest.raises(ConfigError, match=r"missing key\(s\) name \(a string\); Typed needs"):
        load_config(Typed, path)


def test_numbers_are_checked_not_guessed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nrate: 1e-4\ncount: 0\n")  # YAML 1.1 reads 1e-4 as a string
    config = load_config(Typed, path)
    assert config.rate == 1e-4 and config.count == 0  # 0 stays 0, it is not "unset"
    path.write_text("name: x\ncount: true\n")
    with pytest.raises(ConfigError, match='"count" must be an integer or null, got bool'):
        load_config(Typed, path)
    path.write_text("name: x\nrate: fast\n")
    with pytest.raises(ConfigError, match='"rate" must be a number, got str'):
        load_config(Typed, path)


def test_dotted_overrides_reach_nested_configs(tmp_path):
    config = load_config(Typed, None, {"name": "x", "lora.rank": 2, "count": 0})
    assert config.lora.rank == 2 and config.count == 0


def test_empty_binary_and_non_utf8_config_files_are_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="c.yaml: the config file is empty"):
        load_config(Typed, path)
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="c.yaml: not UTF-8 text \\(byte 9 is 0xe9\\)"):
        load_config(Typed, path)


def test_saved_config_names_unknown_and_missing_fields(tmp_path):
    from safealign.config import load_saved_config

    path = tmp_path / "guard_config.json"
    path.write_text('{"name": "x", "head_count": 3}')
    with pytest.raises(ConfigError, match="guard_config.json: unknown key\\(s\\) head_count"):
        load_saved_config(Typed, path)
    path.write_text('{"rate": 0.2}')
    with pytest.raises(ConfigError, match="guard_config.json: missing key\\(s\\) name"):
        load_saved_config(Typed, path)
    path.write_text('{"name": "x", "rate": 1}')
    assert load_saved_config(Typed, path) == Typed(name="x", rate=1.0)


def test_the_shipped_guard_config_loads_through_the_saved_config_loader():
    from pathlib import Path

    from safealign.config import load_saved_config
    from safealign.guard.encoder_guard import CONFIG_FILE, EncoderGuardConfig

    folder = Path(__file__).resolve().parents[2] / "src/safealign/guard/default"
    config = load_saved_config(EncoderGuardConfig, folder / CONFIG_FILE)
    assert config.categories and set(config.thresholds) == set(config.temperatures)


def test_read_jsonl_names_the_truncated_line(tmp_path):
    path = tmp_path / "generations.jsonl"
    path.write_text('{"a": 1}\n{"a": ')
    with pytest.raises(DataError, match="generations.jsonl line 2: not valid JSON"):
        read_jsonl(path)
