"""Row-level checks and coercions with messages a user can act on (`require_labels`, which
checks whole loaded sets, is in `labels.py`).

Format converters raise `RowError` (what is wrong with which field); the loader adds the file
and line, and either raises a `DataError` or records a skipped row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from safealign.data.reading import SKIP_FIX
from safealign.errors import DataError
from safealign.taxonomy import Taxonomy, TaxonomyError, parse_severity


class RowError(Exception):
    """A bad value in one row; `field` names the source column."""

    def __init__(self, reason: str, field: str | None = None, fix: str = SKIP_FIX) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.fix = fix

    def located(self, path: str | Path | None, line: int | None) -> DataError:
        return DataError(self.reason, path=path, line=line, field=self.field, fix=self.fix)


def shown(value: Any) -> str:
    """A value as the user wrote it: strings in double quotes, the rest as JSON."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def text(row: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    """A string column; a required one must be present and not blank."""
    value = row.get(field)
    if missing(value):
        if required:
            raise RowError("is missing or empty.", field)
        return None
    if not isinstance(value, str):
        raise RowError(f"must be text, got {shown(value)}.", field)
    if required and not value.strip():
        raise RowError("is empty.", field)
    return value


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


SAFE_WORDS = {"safe": True, "unsafe": False}
HARMFUL_WORDS = {
    "harmful": True,
    "unsafe": True,
    "unharmful": False,
    "benign": False,
    "safe": False,
}


def boolean(
    row: dict[str, Any],
    field: str,
    *,
    required: bool = False,
    words: dict[str, bool] | None = None,
) -> bool | None:
    """true/false, 1/0, yes/no, or one of `words` (e.g. safe/unsafe); None when absent."""
    value = row.get(field)
    if words and isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    if missing(value):
        if required:
            raise RowError("is missing; it must be true or false.", field)
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    accepted = "true or false" + (f" (or {'/'.join(words)})" if words else "")
    raise RowError(f"must be {accepted}, got {shown(value)}.", field)


def pair_index(row: dict[str, Any], field: str) -> int | None:
    """A response index in a pair: 0 or 1 (also "0"/"1" from CSV); None when absent."""
    value = row.get(field)
    if missing(value):
        return None
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return value
    raise RowError(f"must be 0 or 1, got {shown(value)}.", field)


def severity(row: dict[str, Any], field: str) -> int | None:
    """A severity level 0-3 or its name; None when absent."""
    value = row.get(field)
    if missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return int(parse_severity(value))
    except ValueError:
        raise RowError(
            f"must be 0-3 or safe/minor/moderate/severe, got {shown(value)}.", field
        ) from None


def choice(row: dict[str, Any], field: str, allowed: Iterable[str], *, required: bool = True):
    """One of a few labels (case-insensitive); returns the lowercase label or None."""
    allowed = tuple(allowed)
    value = row.get(field)
    if missing(value) or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(f"is missing; it must be one of {', '.join(allowed)}.", field)
        return None
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise RowError(f"must be one of {', '.join(allowed)}, got {shown(value)}.", field)


def category_names(row: dict[str, Any], field: str, taxonomy: Taxonomy) -> list[str]:
    """Canonical names from a dict of booleans, a list of names, or a comma-separated string."""
    value = row.get(field)
    if missing(value):
        return []
    if isinstance(value, dict):
        keys = [key for key, flag in value.items() if flag]
    elif isinstance(value, list | tuple):
        keys = [str(v) for v in value]
    elif isinstance(value, str):
        keys = [part.strip() for part in value.split(",") if part.strip()]
    else:
        raise RowError(f"must be a dict of booleans or a list of names, got {shown(value)}.", field)
    try:
        return taxonomy.canonical(keys)
    except TaxonomyError as exc:
        raise RowError(str(exc), field) from None


def one_category(row: dict[str, Any], field: str, taxonomy: Taxonomy) -> str:
    """The canonical name of a single category (names may contain commas, as BeaverTails' do)."""
    name = text(row, field)
    category = taxonomy.find(name)
    if category is None:
        raise RowError(taxonomy.unknown_message(name), field)
    return category.name


def parse_json_field(row: dict[str, Any], field: str) -> Any:
    """A nested value that CSV stores as JSON text (lists, message lists)."""
    value = row.get(field)
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError(f"is not valid JSON ({exc.msg}).", field) from None
    return value


# ---------------------------------------------------------------------------------------------
# Labels a task needs
