"""BeaverTails: QA pairs with 14 harm-category flags (hub PKU-Alignment/BeaverTails), and the
BeaverTails-Evaluation prompts (one harmful prompt per row, with its category)."""

from __future__ import annotations

from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Response, Sample
from safealign.taxonomy import load_taxonomy

TAXONOMY = "beavertails"


def convert(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    taxonomy = load_taxonomy(TAXONOMY)
    prompt = check.text(row, "prompt")
    if check.missing(row.get("response")):
        # Evaluation prompts: every one is harmful, its category names the harm asked for.
        categories = [check.one_category(row, "category", taxonomy)]
        metadata = {"category_id": row["category_id"]} if "category_id" in row else {}
        return [
            Sample(
                prompt=prompt,
                prompt_harmful=True,
                prompt_categories=categories,
                taxonomy=TAXONOMY,
                source="beavertails-evaluation",
                metadata=metadata,
            )
        ]
    response = Response(
        text=check.text(row, "response"),
        is_safe=check.boolean(row, "is_safe"),
        categories=check.category_names(row, "category", taxonomy),
    )
    return [Sample(prompt=prompt, responses=[response], taxonomy=TAXONOMY, source="beavertails")]


FORMAT = register_format(
    SourceFormat(
        name="beavertails",
        description="BeaverTails QA with 14 category flags, or BeaverTails-Evaluation prompts",
        convert=convert,
        required=frozenset({"prompt", "category"}),
        optional=frozenset({"response", "is_safe", "category_id"}),
        detect=lambda columns, origin: (
            {"prompt", "category", "category_id"} <= columns
            or {"prompt", "response", "category", "is_safe"} <= columns
        ),
        hub_ids=("PKU-Alignment/BeaverTails", "PKU-Alignment/BeaverTails-Evaluation"),
    )
)
