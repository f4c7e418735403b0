"""Any JSONL / CSV / Parquet / JSON file whose columns are (or are column-mapped to) these names.

One response: `response`, `is_safe`, `categories`, `severity`, `refusal`, `label`.
A pair: `response_0`/`response_1` (with `is_response_{i}_safe`, `response_{i}_categories`,
`response_{i}_severity`, `response_{i}_refusal`) or `chosen`/`rejected` (better = safer = 0),
plus `better`/`safer` (or PKU's `better_response_id`/`safer_response_id`).
Prompt side: `prompt` (required), `context` (a list of {role, content}), `prompt_harmful`,
`prompt_categories`, `taxonomy`, `id`, `source`. Lists may be JSON text or ";"-separated in CSV.
"""

from __future__ import annotations

from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Message, Response, Sample
from safealign.data.validation import RowError

_PAIR_SUFFIXES = ("", "_categories", "_severity", "_refusal", "_label")
RESPONSE_COLUMNS = ("response", "is_safe", "categories", "severity", "refusal", "label")
PAIR_COLUMNS = (
    *(f"response_{i}{suffix}" for i in (0, 1) for suffix in _PAIR_SUFFIXES),
    "is_response_0_safe",
    "is_response_1_safe",
    "chosen",
    "rejected",
)
SAMPLE_COLUMNS = (
    "prompt",
    "context",
    "prompt_harmful",
    "prompt_categories",
    "taxonomy",
    "id",
    "source",
    "metadata",
    "better",
    "safer",
    "better_response_id",
    "safer_response_id",
)


def convert(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    responses, better, safer = _responses(row)
    given_better, given_safer = _first_index(row, "better"), _first_index(row, "safer")
    better = given_better if given_better is not None else better
    safer = given_safer if given_safer is not None else safer
    metadata = check.parse_json_field(row, "metadata") or {}
    if not isinstance(metadata, dict):
        raise RowError(f"must be an object, got {check.shown(metadata)}.", "metadata")
    return [
        Sample(
            prompt=check.text(row, "prompt"),
            context=_context(row),
            responses=responses,
            prompt_harmful=check.boolean(row, "prompt_harmful", words=check.HARMFUL_WORDS),
            prompt_categories=_names(row, "prompt_categories"),
            taxonomy=check.text(row, "taxonomy", required=False),
            better=better,
            safer=safer,
            id=None if check.missing(row.get("id")) else str(row["id"]),
            source=check.text(row, "source", required=False),
            metadata=metadata,
        )
    ]


def _responses(row: dict[str, Any]) -> tuple[list[Response], int | None, int | None]:
    if not check.missing(row.get("chosen")) or not check.missing(row.get("rejected")):
        pair = [Response(text=check.text(row, k, required=True)) for k in ("chosen", "rejected")]
        return pair, 0, 0
    if "response_0" in row or "response_1" in row:
        if check.missing(row.get("response_0")) or check.missing(row.get("response_1")):
            raise RowError('a pair needs both "response_0" and "response_1".', "response_1")
        return [_response(row, i) for i in (0, 1)], None, None
    if not check.missing(row.get("response")):
        return [_response(row, None)], None, None
    return [], None, None


def _response(row: dict[str, Any], i: int | None) -> Response:
    def column(name: str) -> str:
        if i is None:
            return name
        return f"is_response_{i}_safe" if name == "is_safe" else f"response_{i}_{name}"

    return Response(
        text=check.text(row, "response" if i is None else f"response_{i}", required=False) or "",
        is_safe=check.boolean(row, column("is_safe"), words=check.SAFE_WORDS),
        categories=_names(row, column("categories")),
        severity=check.severity(row, column("severity")),
        refusal=check.boolean(row, column("refusal")),
        label=check.text(row, column("label"), required=False),
    )


def _first_index(row: dict[str, Any], name: str) -> int | None:
    value = check.pair_index(row, name)
    return value if value is not None else check.pair_index(row, f"{name}_response_id")


def _names(row: dict[str, Any], field: str) -> list[str]:
    value = check.parse_json_field(row, field)
    if check.missing(value):
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise RowError(
        f'must be a list of names or a ";"-separated string, got {check.shown(value)}.', field
    )


def _context(row: dict[str, Any]) -> list[Message]:
    value = check.parse_json_field(row, "context")
    if check.missing(value):
        return []
    if not isinstance(value, list):
        raise RowError(
            f"must be a list of {{role, content}} messages, got {check.shown(value)}.", "context"
        )
    messages = []
    for i, message in enumerate(value):
        try:
            messages.append(Message(role=message["role"], content=message["content"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RowError(
                f"message {i} is not a {{role, content}} message ({exc}).", "context"
            ) from None
    return messages


FORMAT = register_format(
    SourceFormat(
        name="generic",
        description="any JSONL/CSV/Parquet/JSON with safealign's column names (or a column map)",
        convert=convert,
        required=frozenset({"prompt"}),
        optional=frozenset((*SAMPLE_COLUMNS, *RESPONSE_COLUMNS, *PAIR_COLUMNS)) - {"prompt"},
        strict=True,
        aliases=("jsonl", "csv", "parquet", "json", "tsv"),
    )
)
