"""safealign's own unified JSONL: one `Sample.to_dict()` per line (what `save_samples` writes)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Response, Sample
from safealign.data.validation import RowError, shown

SAMPLE_FIELDS = frozenset(f.name for f in fields(Sample))
RESPONSE_FIELDS = frozenset(f.name for f in fields(Response))


def convert(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    responses = row.get("responses") or []
    if not isinstance(responses, list):
        raise RowError(f"must be a list of responses, got {shown(responses)}.", "responses")
    for i, response in enumerate(responses):
        if not isinstance(response, dict) or not isinstance(response.get("text"), str):
            raise RowError("must be an object with a text.", f"responses[{i}]")
        unknown = sorted(set(response) - RESPONSE_FIELDS)
        if unknown:
            raise RowError(f"unknown key(s) {', '.join(unknown)}.", f"responses[{i}]")
    try:
        return [Sample.from_dict(row)]
    except (TypeError, ValueError, KeyError) as exc:
        raise RowError(str(exc)) from None


FORMAT = register_format(
    SourceFormat(
        name="safealign",
        description="safealign's unified JSONL (one Sample per line), as written by save_samples",
        convert=convert,
        required=frozenset({"prompt"}),
        optional=SAMPLE_FIELDS - {"prompt"},
        detect=lambda columns, origin: {"prompt", "responses", "context"} <= columns,
        strict=True,
        aliases=("unified",),
    )
)
