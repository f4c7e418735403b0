"""`load_samples`: one entry point from any supported source to a list of `Sample`s.

Reading (file types, line numbers) lives in `reading.py`, per-source conversion in `formats/`,
column maps in `columns.py`; this module wires them and owns what is common to every format:
format detection, column checks, skipping bad rows, `limit`, and the unified JSONL output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safealign.data.columns import (
    ColumnError,
    ColumnMap,
    check_columns,
    check_map_sources,
    check_unknown_columns,
)
from safealign.data.reading import SKIP_FIX, RawRow, RawTable, open_source
from safealign.data.registry import RowOrigin, SourceFormat, detect_format, get_format
from safealign.data.schema import Sample
from safealign.data.validation import RowError
from safealign.errors import DataError
from safealign.io import write_jsonl_atomic


@dataclass
class SkippedRow:
    """A row left out under `skip_bad_rows=True`, and why."""

    path: str
    line: int | None
    reason: str


@dataclass
class LoadResult:
    """The samples of one source, the rows skipped, and each sample's line in the source."""

    samples: list[Sample]
    skipped: list[SkippedRow]
    source: str
    format: str = "generic"
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def skip_report(self, max_lines: int = 20) -> str | None:
        """One line saying how many rows were skipped and on which lines; None if none were."""
        if not self.skipped:
            return None
        lines = [str(s.line) for s in self.skipped[:max_lines] if s.line is not None]
        more = ", ..." if len(self.skipped) > max_lines else ""
        where = f" (lines {', '.join(lines)}{more})" if lines else ""
        first = self.skipped[0].reason.splitlines()[0]
        return f"skipped {len(self.skipped)} bad row(s) in {self.source}{where}; first: {first}"


def load_samples(
    source: str | Path,
    format: str | None = None,
    *,
    split: str | None = None,
    column_map: dict[str, Any] | None = None,
    skip_bad_rows: bool = False,
    limit: int | None = None,
) -> LoadResult:
    """Load a file, folder or hub dataset as Samples.

    `format` is detected from hub id or columns when None. `column_map` maps expected column
    names to yours ({"prompt": "question"}), plus "metadata"/"ignore" lists. Bad rows raise a
    `DataError` naming file, line and field, unless `skip_bad_rows` collects them in `skipped`.
    Column problems (missing required, unknown in strict formats) always raise.
    """
    table = open_source(source, split)
    mapping = ColumnMap.parse(column_map)
    rows, first = _peek(table.rows)
    columns = table.columns if table.columns is not None else list(first.values if first else [])
    first_line = 1 if table.columns is not None else (first.line if first else None)
    if table.columns is not None:
        check_map_sources(mapping, columns, table.origin, first_line)
    seen = mapping.columns(columns)
    fmt = (
        get_format(format) if format else detect_format(frozenset(seen), table.origin, table.hub_id)
    )
    if first is not None or table.columns is not None:
        check_columns(fmt, seen, table.origin, first_line, detected=format is None)
    return _convert_rows(table, rows, fmt, mapping, skip_bad_rows, limit)


def _convert_rows(
    table: RawTable,
    rows: Iterable[RawRow],
    fmt: SourceFormat,
    mapping: ColumnMap,
    skip_bad_rows: bool,
    limit: int | None,
) -> LoadResult:
    result = LoadResult([], [], table.origin, fmt.name)
    per_row_columns = table.columns is None
    seen_columns: set[str] = set()
    for raw in rows:
        if limit is not None and len(result.samples) >= limit:
            break
        try:
            if raw.error is not None:
                raise raw.error
            row, extra = mapping.apply(raw.values or {})
            if per_row_columns:
                seen_columns.update(raw.values or ())
                _check_row_columns(fmt, row, table.origin, raw.line)
            samples = _convert_one(fmt, row, table.origin, raw.line)
        except ColumnError:
            raise
        except DataError as error:
            if not skip_bad_rows or error.line is None:
                raise
            reason = (f'field "{error.field}": ' if error.field else "") + error.reason
            result.skipped.append(SkippedRow(table.origin, raw.line, reason))
            continue
        for sample in samples:
            sample.metadata.update(extra)
        result.samples.extend(samples)
        result.lines.extend([raw.line] * len(samples))
    if per_row_columns and (limit is None or len(result.samples) < limit):
        check_map_sources(mapping, seen_columns, table.origin, None)  # JSONL keys vary by row
    if limit is not None:
        del result.samples[limit:], result.lines[limit:]
    return result


def _convert_one(fmt: SourceFormat, row: dict[str, Any], path: str, line: int) -> list[Sample]:
    try:
        return fmt.convert(row, RowOrigin(path, line))
    except RowError as error:
        raise error.located(path, line) from None
    except ValueError as error:  # Sample/Response validation: a bad value, not a bug
        raise DataError(f"{error}.", path=path, line=line, fix=SKIP_FIX) from None


def _check_row_columns(fmt: SourceFormat, row: dict[str, Any], path: str, line: int) -> None:
    """JSONL rows carry their own keys: unknown ones raise, missing required ones are bad rows."""
    check_unknown_columns(fmt, row, path, line, detected=False)
    absent = sorted(fmt.required - set(row))
    if absent:
        raise DataError(
            f"missing required field(s) {', '.join(absent)}.", path=path, line=line, fix=SKIP_FIX
        )


def _peek(rows: Iterator[RawRow]) -> tuple[Iterator[RawRow], RawRow | None]:
    """The first readable row (for its columns) without losing any rows, bad ones included."""
    buffered: list[RawRow] = []
    first = None
    for raw in rows:
        buffered.append(raw)
        if raw.values is not None:
            first = raw
            break

    def chained() -> Iterator[RawRow]:
        yield from buffered
        yield from rows

    return chained(), first


def save_samples(samples: LoadResult | Iterable[Sample], path: str | Path) -> Path:
    """Write samples as unified JSONL (format "safealign"), atomically."""
    return write_jsonl_atomic(path, (sample.to_dict() for sample in samples))


def convert_samples(
    source: str | Path,
    out: str | Path,
    format: str | None = None,
    **options: Any,
) -> LoadResult:
    """Load any source (options as for `load_samples`) and save it as unified JSONL at `out`."""
    result = load_samples(source, format, **options)
    save_samples(result, out)
    return result


@dataclass
class LoadOptions:
    """How to read a data source (the `data` verbs' config; YAML section `data`)."""

    format: str | None = None
    """Format name (see `safealign data formats`); detected from the source when omitted."""
    split: str | None = None
    """Split for hub ids or folders holding several files (e.g. "train", "test")."""
    column_map: dict[str, Any] | None = None
    """Format field -> your column, plus optional "metadata"/"ignore" lists."""
    skip_bad_rows: bool = False
    """Skip rows that fail validation (they are reported) instead of stopping at the first."""
    limit: int | None = None
    """Read at most this many samples."""

    def load(self, source: str | Path) -> LoadResult:
        return load_samples(
            source,
            self.format,
            split=self.split,
            column_map=self.column_map,
            skip_bad_rows=self.skip_bad_rows,
            limit=self.limit,
        )
