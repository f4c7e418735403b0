"""Row-level checks and coercions with messages a user can act on, and `require_labels`.

Format converters raise `RowError` (what is wrong with which field); the loader adds the file
and line, and either raises a `DataError` or records a skipped row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safealign.data.reading import SKIP_FIX
from safealign.data.schema import Sample
from safealign.errors import DataError
from safealign.taxonomy import Taxonomy, TaxonomyError, parse_severity

if TYPE_CHECKING:
    from safealign.data.loaders import LoadResult


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


def _has_pair(s: Sample) -> bool:
    return len(s.responses) == 2


def _all(attribute: str) -> Callable[[Sample], bool]:
    """Every response carries `attribute` (and there is at least one response)."""
    return lambda s: (
        bool(s.responses) and all(getattr(r, attribute) is not None for r in s.responses)
    )


LABEL_CHECKS: dict[str, tuple[str, str, Callable[[Sample], bool]]] = {
    "response": ("responses", "a response", lambda s: bool(s.responses)),
    "pair": ("responses", "a pair of two responses", _has_pair),
    "safety": ("is_safe", "an is_safe label on every response", _all("is_safe")),
    "better": ("better", "a better (more helpful) response id", lambda s: s.better is not None),
    "safer": ("safer", "a safer response id", lambda s: s.safer is not None),
    "prompt_harmful": (
        "prompt_harmful",
        "a prompt_harmful label",
        lambda s: s.prompt_harmful is not None,
    ),
    "severity": ("severity", "a severity on every response", _all("severity")),
    "refusal": ("refusal", "a refusal label on every response", _all("refusal")),
    "categories": (
        "categories",
        "harm categories",
        lambda s: bool(s.prompt_categories) or any(r.categories for r in s.responses),
    ),
}
"""need -> (field, what a failing row lacks, check that passes when the row has it)."""


def require_labels(
    samples: LoadResult | Sequence[Sample],
    needs: Iterable[str] = ("pair", "safety"),
    path: str | Path | None = None,
) -> None:
    """Raise a `DataError` naming the first row that lacks a label the task needs.

    Pass the `LoadResult` to get the row's file line; with a plain list the row is named by its
    position and id. Needs: response, pair, safety, better, safer, prompt_harmful, severity,
    refusal, categories.
    """
    from safealign.data.loaders import LoadResult

    lines: Sequence[int] | None = None
    if isinstance(samples, LoadResult):
        path = path if path is not None else samples.source
        lines = samples.lines
        samples = samples.samples
    for need in needs:
        if need not in LABEL_CHECKS:
            raise ValueError(f"unknown label need {need!r}; known: {', '.join(LABEL_CHECKS)}")
        field, lacks, check = LABEL_CHECKS[need]
        bad = [i for i, sample in enumerate(samples) if not check(sample)]
        if not bad:
            continue
        first = bad[0]
        line = lines[first] if lines else None
        where = "" if line else f"sample {first + 1} (id {samples[first].id!r}) "
        raise DataError(
            f'{where}lacks {lacks}; this task needs "{need}" labels '
            f"({len(bad)} of {len(samples)} rows lack them).",
            path=path,
            line=line,
            field=field,
            fix="Use data that has this label, point a column map at the column that holds it,"
            " or drop the rows that lack it.",
        )
