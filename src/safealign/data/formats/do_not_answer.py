"""Do-Not-Answer: risky prompts with a 3-level risk taxonomy, and (in data_en.csv) six models'
responses per prompt with human labels (`<model>_harmful` 0/1, `<model>_action` 0-5).

Each labelled response becomes its own Sample (one prompt, one response). Action 0 (refuses)
sets `refusal=True`, action 5 (follows the instruction) `refusal=False`; the other actions
(refutes, dual perspectives, disclaimer, cannot answer) are kept only as `label` "action_N".
"""

from __future__ import annotations

from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Response, Sample
from safealign.data.validation import RowError
from safealign.taxonomy import load_taxonomy

TAXONOMY = "do-not-answer"
RESPONSE_SUFFIX = "_response"


def convert(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    prompt = check.text(row, "question")
    category = check.one_category(row, "types_of_harm", load_taxonomy(TAXONOMY))
    metadata = {k: row[k] for k in ("risk_area", "specific_harms") if not check.missing(row.get(k))}
    base_id = None if check.missing(row.get("id")) else str(row["id"])
    models = [c[: -len(RESPONSE_SUFFIX)] for c in row if c.endswith(RESPONSE_SUFFIX)]

    def sample(responses: list[Response], model: str | None) -> Sample:
        return Sample(
            prompt=prompt,
            responses=responses,
            prompt_harmful=True,
            prompt_categories=[category],
            taxonomy=TAXONOMY,
            id=f"{base_id}-{model}" if model and base_id else base_id,
            source="do-not-answer",
            metadata={**metadata, "model": model} if model else dict(metadata),
        )

    if not models:
        return [sample([], None)]
    return [sample([_response(row, model)], model) for model in models]


def _response(row: dict[str, Any], model: str) -> Response:
    harmful = check.boolean(row, f"{model}_harmful")
    action = row.get(f"{model}_action")
    if not check.missing(action):
        if isinstance(action, str) and action.strip().isdigit():
            action = int(action)
        if not isinstance(action, int) or action not in range(6):
            raise RowError(f"must be 0-5, got {check.shown(action)}.", f"{model}_action")
    return Response(
        text=check.text(row, f"{model}{RESPONSE_SUFFIX}", required=False) or "",
        is_safe=None if harmful is None else not harmful,
        refusal={0: True, 5: False}.get(action) if isinstance(action, int) else None,
        label=f"action_{action}" if isinstance(action, int) else None,
    )


FORMAT = register_format(
    SourceFormat(
        name="do-not-answer",
        description="Do-Not-Answer prompts (risk taxonomy) and human-labelled responses",
        convert=convert,
        required=frozenset({"question", "types_of_harm"}),
        optional=frozenset({"id", "risk_area", "specific_harms"}),
        column_patterns=(RESPONSE_SUFFIX, "_harmful", "_action"),
        detect=lambda columns, origin: {"question", "risk_area", "types_of_harm"} <= columns,
        hub_ids=("LibrAI/do-not-answer",),
        aliases=("dna",),
    )
)
