"""Aegis 2.0 (hub nvidia/Aegis-AI-Content-Safety-Dataset-2.0): a prompt, an optional response,
safe/unsafe labels for each, and the violated categories as comma-separated Aegis names."""

from __future__ import annotations

from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Response, Sample
from safealign.taxonomy import load_taxonomy

TAXONOMY = "aegis2"
LABELS = ("safe", "unsafe")


def convert(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    categories = check.category_names(row, "violated_categories", load_taxonomy(TAXONOMY))
    prompt_label = check.choice(row, "prompt_label", LABELS)
    response_text = check.text(row, "response", required=False)
    responses = []
    if response_text and response_text.strip():
        response_label = check.choice(row, "response_label", LABELS, required=False)
        responses.append(
            Response(
                text=response_text,
                is_safe=None if response_label is None else response_label == "safe",
                categories=categories if response_label == "unsafe" else [],
                label=response_label,
            )
        )
    response_unsafe = any(r.is_safe is False for r in responses)
    prompt_gets_categories = prompt_label == "unsafe" or not response_unsafe
    metadata = {k: row[k] for k in _METADATA if not check.missing(row.get(k))}
    sample = Sample(
        prompt=check.text(row, "prompt"),
        responses=responses,
        prompt_harmful=prompt_label == "unsafe",
        prompt_categories=categories if prompt_gets_categories else [],
        taxonomy=TAXONOMY,
        id=None if check.missing(row.get("id")) else str(row["id"]),
        source="aegis2",
        metadata=metadata,
    )
    return [sample]


_METADATA = ("prompt_label_source", "response_label_source", "reconstruction_id_if_redacted")

FORMAT = register_format(
    SourceFormat(
        name="aegis2",
        description="Aegis 2.0 content safety (prompt/response labels, violated categories)",
        convert=convert,
        required=frozenset({"prompt", "prompt_label"}),
        optional=frozenset({"response", "response_label", "violated_categories", "id", *_METADATA}),
        detect=lambda columns, origin: {"prompt", "prompt_label"} <= columns,
        hub_ids=("nvidia/Aegis-AI-Content-Safety-Dataset-2.0",),
        aliases=("aegis",),
    )
)
