"""The format registry: name -> how to recognise a source and turn its rows into Samples.

A format is data plus one converter function, so adding a source means writing one small module
in `formats/` and calling `register_format` (`safealign.data`'s `__init__` imports the built-in
ones; this module never imports them back); `load_samples` does reading, column maps,
validation, skipping and limits for every format alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from safealign.data.schema import Sample
from safealign.errors import DataError


@dataclass(frozen=True)
class RowOrigin:
    """Where a row came from, for converters that need it (e.g. a model name in the file name)."""

    path: str
    line: int


Converter = Callable[[dict[str, Any], RowOrigin], list[Sample]]
Detector = Callable[[frozenset[str], str], bool]


@dataclass(frozen=True)
class SourceFormat:
    """One source format.

    `detect(columns, origin)` says whether a file with these columns is in this format.
    `strict` formats reject columns outside `required | optional` (unless column-mapped);
    lenient ones ignore extra columns.
    """

    name: str
    description: str
    convert: Converter
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    detect: Detector | None = None
    strict: bool = False
    hub_ids: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    column_patterns: tuple[str, ...] = field(default=())
    """Suffixes of dynamic column names also known to the format (e.g. "_response")."""

    @property
    def known(self) -> frozenset[str]:
        return self.required | self.optional

    def is_known(self, column: str) -> bool:
        return column in self.known or column.endswith(self.column_patterns or ("\0",))


_FORMATS: dict[str, SourceFormat] = {}
_ALIASES: dict[str, str] = {}


def register_format(fmt: SourceFormat) -> SourceFormat:
    """Add (or replace) a format; formats are tried for detection in registration order."""
    _FORMATS[fmt.name] = fmt
    for alias in fmt.aliases:
        _ALIASES[alias] = fmt.name
    return fmt


def formats() -> dict[str, SourceFormat]:
    """All registered formats by name, in detection order."""
    return dict(_FORMATS)


def get_format(name: str) -> SourceFormat:
    key = _ALIASES.get(name.lower(), name.lower())
    if key in _FORMATS:
        return _FORMATS[key]
    names = [*_FORMATS, *_ALIASES]
    close = difflib.get_close_matches(name, names, n=2)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise DataError(
        f'unknown format "{name}".{hint}',
        fix=f"Known formats: {', '.join(_FORMATS)}; or leave the format out to detect it.",
    )


def detect_format(columns: frozenset[str], origin: str, hub_id: str | None = None) -> SourceFormat:
    """The format of a hub id or a file with these columns; "generic" when nothing matches."""
    if hub_id:
        for fmt in _FORMATS.values():
            if hub_id.lower() in {h.lower() for h in fmt.hub_ids}:
                return fmt
    for fmt in _FORMATS.values():
        if fmt.detect is not None and fmt.detect(columns, origin):
            return fmt
    return _FORMATS["generic"]
