"""`require_labels`: does a loaded set carry the labels a task needs? Named by the first row
that lacks one, with its file line when the set came from `load_samples`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from safealign.data.loaders import LoadResult
from safealign.data.schema import Sample
from safealign.errors import DataError


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
