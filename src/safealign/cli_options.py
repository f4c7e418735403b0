"""Command-line options derived from config dataclasses, the way TRL's parser reads its configs.

A verb names the config classes it reads; every field becomes an option (`max_new_tokens` ->
`--max-new-tokens`, a nested config's field `loss.beta` -> `--loss-beta`), its help is the
field's `metadata["help"]` (or attribute docstring), its choices come from the field's
`metadata["choices"]` or from the registry the verb passes. A flag left out overrides nothing,
so the order is always: defaults <- YAML file (`--config`) <- flags given.

    @config_verb(app, "train", TrainConfig, section="train")
    def train_command(request: ConfigRequest) -> None:
        cfg = request.load()          # a TrainConfig, type-checked (safealign.config)

Parameters of the decorated function after `request` are ordinary typer parameters, for what
is not a config field (a positional SOURCE, `guard train --kind`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import click
import typer
import yaml
from rich.markup import escape
from typer.core import TyperCommand
from typer.main import get_command_from_info
from typer.models import CommandInfo

from safealign.config import field_help, load_config

Choices = Sequence[str] | Callable[[], Iterable[str]]


@dataclass
class ConfigRequest:
    """What the command line said about a verb's config: the YAML file and the flags given."""

    path: Path | None
    """The `--config` file, if any."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Dotted field name -> value, for the flags that were given (and only those)."""
    classes: tuple[type, ...] = ()
    section: str | None = None

    def load(self, cls: type | None = None, section: str | None = None) -> Any:
        """The verb's (first) config class built from defaults <- YAML <- flags."""
        return load_config(
            cls or self.classes[0], self.path, self.overrides, section=section or self.section
        )


@dataclass
class OptionSpec:
    """One derived option: the field it sets, its flag names, type, help and parser."""

    key: str
    param: str
    decls: tuple[str, ...]
    annotation: Any
    help: str
    parse: Callable[[Any], Any] | None = None
    choices: tuple[str, ...] = ()


def config_verb(
    group: typer.Typer,
    name: str,
    *classes: type | str,
    section: str | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    choices: Mapping[str, Choices | str] | None = None,
    parsers: Mapping[str, Callable[[Any], Any]] | None = None,
    skip: Iterable[str] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a verb whose options are the fields of `classes` (first class wins on a name).

    `aliases` adds flag names to a field (e.g. {"judges": ["--judge", "-j"]}), `choices` names
    the registry a field's values come from, `parsers` turns a repeatable option's strings into
    the field value (e.g. "prompt=question" pairs into a column map), `skip` leaves fields off.

    A class or a registry may be named "module:attribute" (an attribute that is a function is
    called for the classes): the verb is then listed by `--help` without importing it, and its
    options are built only when the verb runs or its own help is asked, so that `safealign
    --help` does not import torch through every verb's config module.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        def build(rich_markup_mode: Any) -> click.Command:
            command = _derived_command(
                func, _classes(classes), section, aliases or {}, choices or {}, parsers or {}, skip
            )
            info = CommandInfo(name=name, callback=command)
            return get_command_from_info(
                info, pretty_exceptions_short=True, rich_markup_mode=rich_markup_mode
            )

        lazy = type(f"Lazy{func.__name__}", (LazyCommand,), {"build": staticmethod(build)})
        group.command(name, cls=lazy, help=inspect.getdoc(func))(_placeholder)
        return func

    return decorate


def _placeholder() -> None:
    """Never called: a LazyCommand hands its context to the command it builds."""


class LazyCommand(TyperCommand):
    """A verb listed by its name and help; its options are derived on first use.

    `make_context` (how click runs a subcommand, its `--help` included) builds the real
    command and hands over to it, so parsing, help and the call are the derived command's.
    """

    build: Callable[[Any], click.Command]
    _real: click.Command | None = None

    def resolve(self) -> click.Command:
        """The derived command (its config classes imported on the first call)."""
        if self._real is None:
            self._real = self.build(self.rich_markup_mode)
        return self._real

    def make_context(self, info_name: Any, args: list[str], parent: Any = None, **extra: Any):
        return self.resolve().make_context(info_name, args, parent=parent, **extra)


def _derived_command(
    func: Callable[..., Any],
    classes: tuple[type, ...],
    section: str | None,
    aliases: Mapping[str, Sequence[str]],
    choices: Mapping[str, Choices | str],
    parsers: Mapping[str, Callable[[Any], Any]],
    skip: Iterable[str],
) -> Callable[..., Any]:
    """`func` with a signature of typer options: its own parameters, `--config`, the fields."""
    specs = option_specs(classes, aliases, choices, parsers, set(skip))
    own = list(inspect.signature(func).parameters.values())[1:]
    config_param = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(None, "--config", "-c", help="YAML file; flags override its keys."),
        annotation=Path | None,
    )
    derived = [
        inspect.Parameter(
            spec.param,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, *spec.decls, help=spec.help, show_default=False),
            annotation=spec.annotation,
        )
        for spec in specs
    ]
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + [
        config_param,
        *derived,
    ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        request = ConfigRequest(kwargs.pop("config"), {}, classes, section)
        for spec in specs:
            value = kwargs.pop(spec.param)
            if value is None or value == []:
                continue
            request.overrides[spec.key] = _checked(spec, value)
        return func(request, **kwargs)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


def _reference(ref: Any) -> Any:
    """A "module:attribute" string's object (imported now); anything else as it is."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _classes(refs: Sequence[type | str]) -> tuple[type, ...]:
    classes: list[type] = []
    for ref in refs:
        obj = _reference(ref)
        if isinstance(obj, type):
            classes.append(obj)
        else:  # a function returning classes, e.g. safealign.evaluate:settings_classes
            classes.extend(obj() if callable(obj) else obj)
    return tuple(classes)


def option_specs(
    classes: Sequence[type],
    aliases: Mapping[str, Sequence[str]],
    choices: Mapping[str, Choices | str],
    parsers: Mapping[str, Callable[[Any], Any]],
    skip: set[str],
) -> list[OptionSpec]:
    """The options of `classes`' fields, nested configs flattened, each key once."""
    specs: dict[str, OptionSpec] = {}
    for cls in classes:
        _collect(cls, "", specs, aliases, choices, parsers, skip)
    return list(specs.values())


def _collect(
    cls: type,
    prefix: str,
    specs: dict[str, OptionSpec],
    aliases: Mapping[str, Sequence[str]],
    choices: Mapping[str, Choices | str],
    parsers: Mapping[str, Callable[[Any], Any]],
    skip: set[str],
) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if key in skip or not f.init or f.metadata.get("cli") is False or key in specs:
            continue
        hint = _strip_none(hints[f.name])
        if dataclasses.is_dataclass(hint):
            _collect(hint, f"{key}.", specs, aliases, choices, parsers, skip)  # type: ignore[arg-type]
            continue
        allowed = _resolve(_reference(choices.get(key)) or f.metadata.get("choices"))
        specs[key] = _spec(cls, f, key, hint, allowed, aliases.get(key, ()), parsers.get(key))


def _spec(
    cls: type,
    f: dataclasses.Field,
    key: str,
    hint: Any,
    allowed: tuple[str, ...],
    extra_names: Sequence[str],
    parse: Callable[[Any], Any] | None,
) -> OptionSpec:
    flag = "--" + key.replace(".", "-").replace("_", "-")
    origin = typing.get_origin(hint)
    element = (typing.get_args(hint) or (str,))[0]
    help_text = field_help(cls, f.name)
    if allowed:
        help_text += f" One of: {', '.join(allowed)}."
    default = _default_text(f)
    if default:
        help_text += f" (default: {default})"
    help_text = escape(help_text)  # typer renders help as rich markup: keep [brackets] literal
    if hint is bool:
        decls = (f"{flag}/--no-{flag[2:]}", *extra_names)
        return OptionSpec(key, _param(key), decls, bool | None, help_text.strip())
    if origin in (list, tuple) and element in (str, int, float) and not parse:
        annotation: Any = list[element] | None  # type: ignore[valid-type]
    elif origin in (list, tuple, dict) or hint in (list, dict) or parse:
        annotation = list[str] | None
        parse = parse or (_key_values if origin is dict or hint is dict else None)
    elif hint in (int, float):
        annotation = hint | None
    elif hint is str and allowed:
        annotation = Literal.__getitem__(allowed) | None  # typer checks the choice
        allowed = ()
    elif hint in (str, Path):
        annotation = str | None
    else:  # unions and Any: the flag's text is read as YAML, then type-checked with the file
        annotation = str | None
        parse = parse or yaml.safe_load
    return OptionSpec(
        key, _param(key), (flag, *extra_names), annotation, help_text.strip(), parse, allowed
    )


def _checked(spec: OptionSpec, value: Any) -> Any:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if spec.choices and item not in spec.choices:
            raise typer.BadParameter(
                f"{item!r} is not one of {', '.join(spec.choices)}.", param_hint=spec.decls[0]
            )
    return spec.parse(value) if spec.parse else value


def _key_values(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings into a mapping; values read as YAML ("bfpo=1.0" -> {"bfpo": 1.0})."""
    mapping: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f'"{item}" is not KEY=VALUE.')
        mapping[name.strip()] = yaml.safe_load(text)
    return mapping


def _resolve(choices: Choices | None) -> tuple[str, ...]:
    if choices is None:
        return ()
    return tuple(choices() if callable(choices) else choices)


def _strip_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return ""
    if value is None or dataclasses.is_dataclass(value):
        return ""
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text if len(text) <= 40 else ""


def _param(key: str) -> str:
    return "option_" + key.replace(".", "__")
