"""Column maps: tell a loader which of your columns holds what it expects.

    {"prompt": "question", "response": "answer", "is_safe": "label"}   # expected <- yours
    {"metadata": ["topic", "annotator"]}   # keep these columns in Sample.metadata
    {"ignore": ["row_hash"]}               # drop these columns

Column checks also live here: a missing required column, or (for strict formats) a column the
format does not know, is an error naming the columns and suggesting a column map.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from safealign.data.registry import SourceFormat, formats
from safealign.errors import DataError

SPECIAL_KEYS = ("metadata", "ignore")


class ColumnError(DataError):
    """The columns do not fit the format: never skipped, since every row would be."""


@dataclass(frozen=True)
class ColumnMap:
    rename: dict[str, str]
    """source column -> expected column"""
    metadata: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @classmethod
    def parse(cls, column_map: dict[str, Any] | None) -> ColumnMap:
        """Check a user's column map and invert it into source column -> expected name."""
        rename: dict[str, str] = {}
        lists: dict[str, tuple[str, ...]] = {"metadata": (), "ignore": ()}
        for expected, theirs in (column_map or {}).items():
            if expected in SPECIAL_KEYS:
                names = [theirs] if isinstance(theirs, str) else theirs
                if not isinstance(names, list | tuple) or not all(map(_is_text, names)):
                    raise DataError(
                        f'column map key "{expected}" must list column names, got {theirs!r}.',
                        fix=f'E.g. column_map={{"{expected}": ["topic", "annotator"]}}.',
                    )
                lists[expected] = tuple(names)
                continue
            if not isinstance(theirs, str) or not theirs:
                raise DataError(
                    f'column map entry "{expected}" must name one of your columns, got {theirs!r}.',
                    fix='Map expected names to your column names, e.g. {"prompt": "question"}.',
                )
            if theirs in rename:
                raise DataError(
                    f'column map sends your column "{theirs}" to both "{rename[theirs]}" and '
                    f'"{expected}".',
                    fix="Map each of your columns once.",
                )
            rename[theirs] = expected
        return cls(rename, lists["metadata"], lists["ignore"])

    @property
    def sources(self) -> set[str]:
        """Your columns the map names (each must exist in the file)."""
        return {*self.rename, *self.metadata, *self.ignore}

    def columns(self, columns: Iterable[str]) -> list[str]:
        """The column names a format sees after mapping."""
        dropped = {*self.metadata, *self.ignore}
        mapped = {self.rename[c] for c in columns if c in self.rename}
        kept = [c for c in columns if c not in dropped and c not in self.rename and c not in mapped]
        return [*kept, *sorted(mapped)]

    def apply(self, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(row as the format expects it, values to keep in Sample.metadata)."""
        if not (self.rename or self.metadata or self.ignore):
            return row, {}
        out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        mapped = set(self.rename.values())
        for column, value in row.items():
            if column in self.ignore:
                continue
            if column in self.metadata:
                extra[column] = value
            elif column in self.rename:
                out[self.rename[column]] = value
            elif column not in mapped:
                out[column] = value
        return out, extra


def parse_column_map(items: Iterable[str]) -> dict[str, Any]:
    """A column map from CLI flags: "prompt=question", "metadata=topic,rater", "ignore=hash"."""
    column_map: dict[str, Any] = {}
    for item in items:
        expected, sep, theirs = item.partition("=")
        if not sep or not expected.strip() or not theirs.strip():
            raise DataError(
                f'--column-map "{item}" is not EXPECTED=YOURS.',
                fix="E.g. --column-map prompt=question --column-map metadata=topic,rater.",
            )
        expected, theirs = expected.strip(), theirs.strip()
        if expected in SPECIAL_KEYS:
            column_map[expected] = [*column_map.get(expected, []), *theirs.split(",")]
        else:
            column_map[expected] = theirs
    return column_map


def check_map_sources(
    column_map: ColumnMap, columns: Iterable[str], path: str, line: int | None
) -> None:
    """Every column the map names must exist in the file."""
    columns = set(columns)
    absent = sorted(column_map.sources - columns)
    if absent:
        raise ColumnError(
            f"the column map names {_quoted(absent)}, which the file lacks.",
            path=path,
            line=line,
            fix=f"Columns in the file: {_quoted(sorted(columns))}.",
        )


def check_columns(
    fmt: SourceFormat,
    columns: Iterable[str],
    path: str,
    line: int | None,
    detected: bool,
) -> None:
    """Raise on a missing required column or, for strict formats, an unknown one."""
    columns = list(columns)
    absent = sorted(fmt.required - set(columns))
    if absent:
        raise ColumnError(
            f'missing required column(s) {_quoted(absent)} for format "{fmt.name}".',
            path=path,
            line=line,
            fix=f"Columns present: {_quoted(columns)}. Pass a column map naming the column that"
            f' holds it, e.g. column_map={{"{absent[0]}": "<your column>"}}'
            f" (--column-map {absent[0]}=<your column>)." + (_format_hint() if detected else ""),
        )
    check_unknown_columns(fmt, columns, path, line, detected)


def check_unknown_columns(
    fmt: SourceFormat, columns: Iterable[str], path: str, line: int | None, detected: bool
) -> None:
    """Strict formats name every column they do not know and say how to map, keep or drop it."""
    unknown = [c for c in columns if not fmt.is_known(c)] if fmt.strict else []
    if unknown:
        raise ColumnError(
            f'unknown column(s) {_quoted(unknown)} for format "{fmt.name}".',
            path=path,
            line=line,
            fix="Pass a column map: map each to a known column "
            f'(column_map={{"<known>": "{unknown[0]}"}}), keep them with '
            f'{{"metadata": [...]}} or drop them with {{"ignore": [...]}}. '
            f"Known columns: {', '.join(sorted(fmt.known))}."
            + (_format_hint() if detected else ""),
        )


def _format_hint() -> str:
    return f" The format was detected from the columns; pass format= one of {', '.join(formats())}."


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)
