"""Turn a file, folder or hub id into numbered raw rows, whatever its container format.

Formats (PKU-SafeRLHF, XSTest, ...) only see dicts; this module owns file types (JSONL, JSON,
CSV/TSV, Parquet, gzip) and where each row sits, so every error can name its line.
A JSON line that does not parse becomes a row carrying its error, so `skip_bad_rows` can skip it.
Text is UTF-8: a binary file, an empty file or bytes that are not UTF-8 stop the read with a
`DataError` naming the file (and, for bad bytes, the line and byte offset), never a traceback.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from safealign.errors import DataError

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
INDEX_COLUMNS = frozenset({"", "Unnamed: 0", "__index_level_0__"})
"""Columns that only hold a row index (pandas writes them); dropped on reading."""

SKIP_FIX = "Fix the row, or pass skip_bad_rows=True / --skip-bad-rows to skip it."
"""The fix every row-level error offers."""

BINARY_PROBE_BYTES = 8192
"""A NUL byte in this many leading bytes marks a file as binary (as git and grep decide)."""
UTF8_FIX = "Re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > NEW_FILE)."

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass
class RawRow:
    """One record as read: 1-based `line` (row number for Parquet, JSON arrays and the hub)."""

    line: int
    values: dict[str, Any] | None
    error: DataError | None = None


@dataclass
class RawTable:
    """The rows of one source. `columns` is the header for tabular files, None for JSONL."""

    origin: str
    columns: list[str] | None
    rows: Iterator[RawRow]
    hub_id: str | None = None


def open_source(source: str | Path, split: str | None = None) -> RawTable:
    """Open a local file or folder, or a Hugging Face hub dataset id."""
    path = Path(source)
    if not path.exists() and is_hub_id(str(source)):
        return read_hub(str(source), split)
    if path.is_dir():
        path = pick_file(path, split)
    if not path.is_file():
        raise file_not_found(path)
    return read_file(path)


def is_hub_id(text: str) -> bool:
    """`owner/name` without a data-file suffix: what `datasets.load_dataset` accepts."""
    return bool(_HUB_ID.fullmatch(text)) and not text.lower().endswith((*DATA_SUFFIXES, ".gz"))


def read_file(path: Path) -> RawTable:
    suffix = _suffix(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix in {".csv", ".tsv", ".jsonl", ".json"}:
        check_text_file(path)
    if suffix in {".csv", ".tsv"}:
        return _read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")
    if suffix in {".jsonl", ".json"}:
        return _read_json(path)
    raise DataError(
        f"cannot tell the file type from its name (suffix {suffix or 'none'}).",
        path=path,
        fix=f"Rename it to one of {', '.join(DATA_SUFFIXES)} (optionally .gz).",
    )


def read_hub(hub_id: str, split: str | None) -> RawTable:
    """Rows of a hub dataset through `datasets.load_dataset` (needs network or the HF cache)."""
    try:
        import datasets  # heavy (pyarrow, fsspec): only for hub ids

        dataset = datasets.load_dataset(hub_id, split=split or "train")
    except Exception as exc:
        raise DataError(
            f"could not load hub dataset {hub_id} (split {split or 'train'}): {exc}",
            path=hub_id,
            fix="Check the id and the split, and that the hub is reachable (HF_HUB_OFFLINE unset),"
            " or download the data and pass the local file.",
        ) from exc
    rows = (RawRow(i, dict(row)) for i, row in enumerate(dataset, start=1))
    return RawTable(hub_id, list(dataset.column_names), rows, hub_id=hub_id)


def pick_file(folder: Path, split: str | None) -> Path:
    """The one data file in `folder` (matching `split` when given); else say which exist."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and _suffix(p) in DATA_SUFFIXES)
    chosen = [p for p in files if split and split in p.name] if split else files
    if len(chosen) == 1:
        return chosen[0]
    names = [str(p.relative_to(folder)) for p in files]
    listing = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    listing = listing or "none"
    what = f' matching split "{split}"' if split else ""
    raise DataError(
        f"{len(chosen)} data files{what} in this folder (found: {listing}).",
        path=folder,
        fix="Pass one file, or a split that picks exactly one.",
    )


def file_not_found(path: Path) -> DataError:
    """A not-found error that suggests files with close names beside the one asked for."""
    parent = path.parent
    if parent.is_dir():
        names = [p.name for p in parent.iterdir()]
        close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.75)
        if close:
            fix = "Did you mean " + " or ".join(str(parent / c) for c in close) + "?"
        else:
            fix = f"{parent} holds: {', '.join(sorted(names)[:10]) or 'nothing'}."
    else:
        fix = f"The folder {parent} does not exist either. Hub ids look like owner/name."
    return DataError("file not found.", path=path, fix=fix)


def check_text_file(path: Path) -> None:
    """Refuse what cannot be read as text: a folder, a missing or empty file, a binary file."""
    if path.is_dir():
        raise DataError("is a folder, not a file.", path=path, fix="Pass one data file in it.")
    if not path.is_file():
        raise file_not_found(path)
    try:
        with _open_bytes(path) as handle:
            head = handle.read(BINARY_PROBE_BYTES)
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot be read ({exc}).", path=path) from exc
    if not head.strip():
        raise DataError("the file is empty.", path=path, fix="Pass a file that holds rows.")
    if b"\0" in head:
        raise DataError(
            "is a binary file, not text (a NUL byte in its first 8 KiB).",
            path=path,
            fix=f"Pass a text file: {', '.join(DATA_SUFFIXES)} (optionally .gz).",
        )


def read_text(path: Path) -> str:
    """The whole text of a UTF-8 file (a `DataError` naming the file for anything else)."""
    check_text_file(path)
    try:
        with _open_text(path) as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def not_utf8(path: Path) -> DataError:
    """Where the first byte that is not UTF-8 lies: line and byte offset from the file start."""
    offset = 0
    with _open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return DataError(
                    f"is not UTF-8 text: byte 0x{raw[exc.start]:02x} at byte offset "
                    f"{offset + exc.start} cannot be decoded.",
                    path=path,
                    line=number,
                    fix=UTF8_FIX,
                )
            offset += len(raw)
    return DataError("is not UTF-8 text.", path=path, fix=UTF8_FIX)


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _open_text(path: Path) -> TextIO:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _read_json(path: Path) -> RawTable:
    try:
        with _open_text(path) as handle:
            head = handle.read(4096).lstrip()
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    if head.startswith("["):
        return RawTable(str(path), None, _json_array_rows(path))
    return RawTable(str(path), None, _jsonl_rows(path))


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    try:
        yield from _jsonl_lines(path)
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def _jsonl_lines(path: Path) -> Iterator[RawRow]:
    with _open_text(path) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                error = DataError(
                    f"not valid JSON ({exc.msg} at column {exc.colno}).",
                    path=path,
                    line=number,
                    fix=SKIP_FIX,
                )
                yield RawRow(number, None, error)
                continue
            yield _object_row(path, number, value)


def _json_array_rows(path: Path) -> Iterator[RawRow]:
    with _open_text(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg}).", path=path, line=exc.lineno) from exc
        except UnicodeDecodeError:
            raise not_utf8(path) from None
    for number, value in enumerate(data, start=1):
        yield _object_row(path, number, value)


def _object_row(path: Path, number: int, value: Any) -> RawRow:
    if isinstance(value, dict):
        return RawRow(number, value)
    kind = type(value).__name__
    error = DataError(f"must be a JSON object, got a {kind}.", path=path, line=number, fix=SKIP_FIX)
    return RawRow(number, None, error)


def _read_csv(path: Path, delimiter: str) -> RawTable:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with _open_text(path) as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    if not header:
        raise DataError("the file is empty: no header row.", path=path, line=1)
    columns = [c for c in header if c not in INDEX_COLUMNS]
    return RawTable(str(path), columns, _csv_rows(path, delimiter, header))


def _csv_rows(path: Path, delimiter: str, header: list[str]) -> Iterator[RawRow]:
    try:
        yield from _csv_records(path, delimiter, header)
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def _csv_records(path: Path, delimiter: str, header: list[str]) -> Iterator[RawRow]:
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader)
        end = reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record:
                continue
            if len(record) != len(header):
                error = DataError(
                    f"has {len(record)} fields, the header has {len(header)}.",
                    path=path,
                    line=start,
                    fix=SKIP_FIX,
                )
                yield RawRow(start, None, error)
                continue
            values = {
                name: (value if value != "" else None)
                for name, value in zip(header, record, strict=True)
                if name not in INDEX_COLUMNS
            }
            yield RawRow(start, values)


def _read_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq  # heavy: only for Parquet files

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:
        raise DataError(f"not a readable Parquet file ({exc}).", path=path) from exc
    columns = [c for c in table.schema_arrow.names if c not in INDEX_COLUMNS]

    def rows() -> Iterator[RawRow]:
        number = 0
        for batch in table.iter_batches(batch_size=1024, columns=columns):
            for values in batch.to_pylist():
                number += 1
                yield RawRow(number, values)

    return RawTable(str(path), columns, rows())
