"""Configs are dataclasses with working defaults; YAML files fill them, CLI flags override them.

Every value is checked against the field's type when it is read, so a wrong type, an unknown
key or a missing required key is a `ConfigError` that names the file, the key (a dotted path for
nested configs) and the expected type, never an AttributeError deep inside a run.

A field documents itself with `dataclasses.field(default=..., metadata={"help": "..."})`; that
text is its `--help` on the command line (safealign.cli_options). Fields of older configs that
carry an attribute docstring instead (a string right below the field) are read the same way.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import json
import textwrap
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
    Override keys may be dotted ("loss.beta") to reach into a nested config.
    """
    values, picked = ({}, "") if path is None else read_config_section(path, section)
    merge_overrides(values, overrides)
    return config_from_dict(cls, values, origin=config_origin(path, picked))


def config_origin(path: str | Path | None, section: str = "") -> str:
    """How errors name where a config came from: 'train.yaml, section "train"'."""
    if path is None:
        return "command line"
    return f'{path}, section "{section}"' if section else str(path)


def read_yaml_mapping(path: str | Path, section: str | None = None) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (optionally one section of it)."""
    return read_config_section(path, section)[0]


def read_config_section(path: str | Path, section: str | None = None) -> tuple[dict[str, Any], str]:
    """The mapping of a YAML config (its `section` key if present) and that key as a prefix."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "not found"
        raise ConfigError(f"{path}: config file {what}. Pass an existing YAML file to --config.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}). "
            "A config is a YAML text file saved as UTF-8."
        ) from exc
    if not text.strip():
        raise ConfigError(
            f"{path}: the config file is empty. Write YAML keys into it, or leave out --config."
        )
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid YAML ({detail}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values.")
    if section is not None and section in data and isinstance(data[section], dict):
        return dict(data[section]), section
    return dict(data), ""


def merge_overrides(values: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Put non-None overrides into `values` in place; "a.b" keys go into nested mappings."""
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        target = values
        for parent in parents:
            if target.get(parent) is None:
                target[parent] = {}
            if not isinstance(target[parent], dict):  # a bad YAML value: the type check names it
                break
            target = target[parent]
        else:
            target[leaf] = value
    return values


def config_from_dict(
    cls: type[ConfigT], values: dict[str, Any], origin: str = "config", prefix: str = ""
) -> ConfigT:
    """Instantiate dataclass `cls` from a mapping, checking every value against its field type.

    `origin` names the file in errors and `prefix` the key path down to this mapping.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key(s) {', '.join(_dotted(prefix, k) for k in unknown)} "
            f"for {cls.__name__}. Known keys: {', '.join(sorted(fields))}."
        )
    hints = typing.get_type_hints(cls)
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(
            f"{origin}: missing key(s) "
            + ", ".join(f"{_dotted(prefix, n)} ({type_name(hints[n])})" for n in missing)
            + f"; {cls.__name__} needs them."
        )
    kwargs = {
        name: check_value(value, hints[name], origin, _dotted(prefix, name))
        for name, value in values.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        where = f"{prefix}: " if prefix else ""
        raise ConfigError(f"{origin}: {where}{exc}") from exc


def load_saved_config(cls: type[ConfigT], path: str | Path) -> ConfigT:
    """A config saved as JSON beside an artefact (a guard folder, ...), checked like a YAML one.

    An older folder whose file lacks a required field or carries one this version does not know
    gets an error naming the file and the field, not a TypeError from the constructor.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: saved config not found; is this folder complete?")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON config ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a saved config must be a JSON object.")
    return config_from_dict(cls, data, origin=str(path))


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML-safe dict of a config (for recording in run outputs)."""
    return dataclasses.asdict(config)


# -- type checks -------------------------------------------------------------------------------


def check_value(value: Any, hint: Any, origin: str, key: str) -> Any:
    """`value` converted to `hint` (nested configs built, ints widened to floats), or an error."""
    ok, converted = _convert(value, hint, origin, key)
    if not ok:
        raise ConfigError(
            f'{origin}: key "{key}" must be {type_name(hint)}, '
            f"got {type(value).__name__} {_short(value)}."
        )
    return converted


def _convert(value: Any, hint: Any, origin: str, key: str) -> tuple[bool, Any]:
    if hint is Any or hint is object:
        return True, value
    if hint is type(None):
        return value is None, value
    origin_type = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin_type in (typing.Union, types.UnionType):
        if value is None:
            return type(None) in args, None
        for arg in args:
            if arg is type(None):
                continue
            ok, converted = _convert(value, arg, origin, key)
            if ok:
                return True, converted
        return False, value
    if origin_type is typing.Literal:
        return value in args, value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # type: ignore[arg-type]
            return True, value
        if isinstance(value, dict):  # errors inside name their own key
            return True, config_from_dict(hint, value, origin, prefix=key)  # type: ignore[arg-type]
        return False, value
    if origin_type in (list, tuple, set, frozenset) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, value
        if origin_type is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return False, value
            items = [
                check_value(v, a, origin, f"{key}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
            return True, tuple(items)
        element = args[0] if args else Any
        items = [check_value(v, element, origin, f"{key}[{i}]") for i, v in enumerate(value)]
        return True, (origin_type or list)(items)
    if origin_type is dict or hint is dict:
        if not isinstance(value, dict):
            return False, value
        key_type, value_type = args if args else (Any, Any)
        return True, {
            check_value(k, key_type, origin, f"{key}.<key>"): check_value(
                v, value_type, origin, f"{key}.{k}"
            )
            for k, v in value.items()
        }
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
            try:
                return True, float(value)
            except ValueError:
                return False, value
        return False, value
    if hint is str:
        return isinstance(value, str), value
    if hint is Path:
        return isinstance(value, (str, Path)), Path(value) if isinstance(value, str) else value
    if isinstance(hint, type):
        return isinstance(value, hint), value
    return True, value


def type_name(hint: Any) -> str:
    """A reader's name for a type: "a float", "a list of str", "one of 'a', 'b'"."""
    if hint is Any or hint is object:
        return "any value"
    if hint is type(None):
        return "null"
    origin_type = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin_type in (typing.Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        text = " or ".join(names)
        return f"{text} or null" if type(None) in args else text
    if origin_type is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if dataclasses.is_dataclass(hint):
        return f"a mapping ({hint.__name__})"  # type: ignore[union-attr]
    if origin_type in (list, tuple, set, frozenset) or hint in (list, tuple):
        return f"a list of {_bare(args[0])}" if args else "a list"
    if origin_type is dict or hint is dict:
        return f"a mapping of {_bare(args[0])} to {_bare(args[1])}" if args else "a mapping"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    return f"a {getattr(hint, '__name__', hint)}"


def _bare(hint: Any) -> str:
    name = type_name(hint)
    for article in ("an ", "a "):
        if name.startswith(article):
            return name[len(article) :]
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dotted(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# -- help text ---------------------------------------------------------------------------------


def field_help(cls: type, name: str) -> str:
    """A field's help: `metadata["help"]`, else the attribute docstring below it, else ""."""
    for f in dataclasses.fields(cls):
        if f.name == name and "help" in f.metadata:
            return str(f.metadata["help"])
    for klass in cls.__mro__:
        text = _attribute_docstrings(klass).get(name)
        if text:
            return text
    return ""


@functools.cache
def _attribute_docstrings(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body
    if not body or not isinstance(body[0], ast.ClassDef):
        return {}
    found: dict[str, str] = {}
    statements = body[0].body
    for statement, following in itertools.pairwise(statements):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = " ".join(following.value.value.split())
    return found
