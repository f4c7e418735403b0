"""Reading the raw files of the shared datasets that no row format covers, with `DataError`s.

The catalogue's readers (`prompt_sets`, `labelled_responses`) read CSV, TSV, JSON and text
files where they lie under the shared data folder; every read goes through here so that a
missing, binary or non-UTF-8 file is named in one line, never a bare `FileNotFoundError`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from safealign.data.reading import file_not_found, read_text
from safealign.errors import DataError

SHARED_DATA_FIX = "Set SAFEALIGN_SHARED_DATA (or --data-dir) to the folder holding the datasets."


def shared_path(root: Path, relative: str) -> Path:
    """`root / relative`, which must exist (a file or a folder)."""
    path = root / relative
    if not path.exists():
        error = file_not_found(path)
        raise DataError(error.reason, path=path, fix=f"{error.fix} {SHARED_DATA_FIX}")
    return path


def read_json(path: Path) -> Any:
    """A parsed JSON file."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg}).", path=path, line=exc.lineno) from exc


def read_lines(path: Path) -> list[str]:
    """The lines of a text file."""
    return read_text(path).splitlines()


def read_frame(path: Path, **options: Any) -> pd.DataFrame:
    """A CSV/TSV file as a DataFrame (`options` go to `pandas.read_csv`)."""
    try:
        return pd.read_csv(io.StringIO(read_text(path)), **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"not a readable CSV file ({exc}).", path=path) from exc
