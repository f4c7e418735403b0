"""Configs are dataclasses with working defaults; YAML files fill them, CLI flags override them."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from safealign.errors import ConfigError

ConfigT = TypeVar("ConfigT")


def load_config(
    cls: type[ConfigT],
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    section: str | None = None,
) -> ConfigT:
    """Build `cls` from defaults, then a YAML file, then explicit overrides (None values ignored).

    `section` picks a top-level key of the YAML file, so one file can configure several verbs.
    Unknown keys are an error that names them, so a typo never silently falls back to a default.
    """
    values: dict[str, Any] = {}
    if path is not None:
        values.update(read_yaml_mapping(path, section))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return config_from_dict(cls, values, origin=str(path) if path else "overrides")


def read_yaml_mapping(path: str | Path, section: str | None = None) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (optionally one section of it)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found. Pass an existing YAML file to --config.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values.")
    if section is not None and section in data and isinstance(data[section], dict):
        data = data[section]
    return data


def config_from_dict(cls: type[ConfigT], values: dict[str, Any], origin: str = "config") -> ConfigT:
    """Instantiate dataclass `cls` from a mapping, recursing into nested dataclass fields."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key(s) {', '.join(unknown)} for {cls.__name__}. "
            f"Known keys: {', '.join(sorted(fields))}."
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        nested = _dataclass_in(hints.get(name))
        if nested is not None and isinstance(value, dict):
            value = config_from_dict(nested, value, origin=f"{origin}.{name}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML-safe dict of a config (for recording in run outputs)."""
    return dataclasses.asdict(config)


def _dataclass_in(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg):
                return arg
    return None
