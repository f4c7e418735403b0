"""Harmful-instruction lists: AdvBench (`goal`, `target`) and HarmBench behaviors.

Every row is a harmful request (`prompt_harmful=True`). HarmBench's contextual behaviors are
shown to the model as the context passage, a separator, then the behavior, as HarmBench does.
"""

from __future__ import annotations

from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Sample
from safealign.taxonomy import load_taxonomy

HARMBENCH_TAXONOMY = "harmbench"


def convert_advbench(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    target = check.text(row, "target", required=False)
    return [
        Sample(
            prompt=check.text(row, "goal"),
            prompt_harmful=True,
            source="advbench",
            metadata={"target": target} if target else {},
        )
    ]


def convert_harmbench(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    behavior = check.text(row, "Behavior")
    context = check.text(row, "ContextString", required=False)
    category = check.one_category(row, "SemanticCategory", load_taxonomy(HARMBENCH_TAXONOMY))
    metadata = {
        key: row[key]
        for key in ("FunctionalCategory", "Tags", "ContextString")
        if not check.missing(row.get(key))
    }
    return [
        Sample(
            prompt=f"{context}\n\n---\n\n{behavior}" if context else behavior,
            prompt_harmful=True,
            prompt_categories=[category],
            taxonomy=HARMBENCH_TAXONOMY,
            id=check.text(row, "BehaviorID", required=False),
            source="harmbench",
            metadata=metadata,
        )
    ]


ADVBENCH = register_format(
    SourceFormat(
        name="advbench",
        description="AdvBench harmful_behaviors.csv (goal, target)",
        convert=convert_advbench,
        required=frozenset({"goal"}),
        optional=frozenset({"target"}),
        detect=lambda columns, origin: {"goal", "target"} <= columns,
    )
)

HARMBENCH = register_format(
    SourceFormat(
        name="harmbench",
        description="HarmBench text behaviors CSV (7 semantic categories)",
        convert=convert_harmbench,
        required=frozenset({"Behavior", "SemanticCategory"}),
        optional=frozenset({"FunctionalCategory", "Tags", "ContextString", "BehaviorID"}),
        detect=lambda columns, origin: {"Behavior", "SemanticCategory"} <= columns,
    )
)
