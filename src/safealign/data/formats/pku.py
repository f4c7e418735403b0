"""PKU-SafeRLHF preference pairs and PKU-SafeRLHF-QA single answers (DESIGN.md 2.1).

Pairs: a per-response safety bit, 19-way harm categories (a dict of booleans) and severity 0-3,
plus `better_response_id` (helpfulness) and `safer_response_id` (harmlessness). The older
schema (e.g. C2-Eval) has only the safety bits and the two ids; both load the same way.
"""

from __future__ import annotations

from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Response, Sample
from safealign.data.validation import RowError
from safealign.taxonomy import load_taxonomy

TAXONOMY = "pku-saferlhf"


def convert_pair(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    taxonomy = load_taxonomy(TAXONOMY)
    responses = []
    for i in (0, 1):
        responses.append(
            Response(
                text=check.text(row, f"response_{i}", required=False) or "",
                is_safe=check.boolean(row, f"is_response_{i}_safe"),
                categories=check.category_names(row, f"response_{i}_harm_category", taxonomy),
                severity=check.severity(row, f"response_{i}_severity_level"),
            )
        )
    metadata = {k: row[k] for k in _PAIR_METADATA if not check.missing(row.get(k))}
    sample = Sample(
        prompt=check.text(row, "prompt"),
        responses=responses,
        taxonomy=TAXONOMY,
        better=check.pair_index(row, "better_response_id"),
        safer=check.pair_index(row, "safer_response_id"),
        source="pku-saferlhf",
        metadata=metadata,
    )
    return [sample]


def convert_qa(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    taxonomy = load_taxonomy(TAXONOMY)
    categories = check.category_names(row, "harm_category", taxonomy)
    if not categories and not check.missing(row.get("safety_category")):
        categories = _indexed_categories(row["safety_category"], taxonomy.names)
    level = check.severity(row, "severity_level")
    if level is None:
        level = check.severity(row, "severity_category")
    is_safe = check.boolean(row, "is_safe")
    if is_safe is None and level is not None:
        is_safe = level == 0
    response = Response(
        text=check.text(row, "response"), is_safe=is_safe, categories=categories, severity=level
    )
    metadata = {k: row[k] for k in _QA_METADATA if not check.missing(row.get(k))}
    return [
        Sample(
            prompt=check.text(row, "prompt"),
            responses=[response],
            taxonomy=TAXONOMY,
            source="pku-saferlhf-qa",
            metadata=metadata,
        )
    ]


def _indexed_categories(value: Any, names: list[str]) -> list[str]:
    """`safety_category` of the older QA schema: 19 flags, or a list of category indices."""
    field = "safety_category"
    if not isinstance(value, list | tuple) or not all(isinstance(v, int) for v in value):
        raise RowError(f"must be a list of integers, got {check.shown(value)}.", field)
    if len(value) == len(names) and set(value) <= {0, 1}:
        return [name for name, flag in zip(names, value, strict=True) if flag]
    if any(v not in range(len(names)) for v in value):
        raise RowError(f"indices must be 0-{len(names) - 1}, got {check.shown(value)}.", field)
    return [names[i] for i in sorted(set(value))]


_PAIR_METADATA = (
    "prompt_source",
    "response_0_source",
    "response_1_source",
    "response_0_sha256",
    "response_1_sha256",
)
_QA_METADATA = ("prompt_source", "response_source", "sha256")

PAIR = register_format(
    SourceFormat(
        name="pku-saferlhf",
        description="PKU-SafeRLHF preference pairs (hub PKU-Alignment/PKU-SafeRLHF, C2-Eval)",
        convert=convert_pair,
        required=frozenset({"prompt", "response_0", "response_1"}),
        optional=frozenset(
            {
                "is_response_0_safe",
                "is_response_1_safe",
                "response_0_harm_category",
                "response_1_harm_category",
                "response_0_severity_level",
                "response_1_severity_level",
                "better_response_id",
                "safer_response_id",
                *_PAIR_METADATA,
            }
        ),
        detect=lambda columns, origin: (
            {"prompt", "response_0", "response_1"} <= columns
            and bool({"safer_response_id", "better_response_id", "is_response_0_safe"} & columns)
        ),
        strict=True,
        hub_ids=(
            "PKU-Alignment/PKU-SafeRLHF",
            "PKU-Alignment/PKU-SafeRLHF-v0",
            "PKU-Alignment/PKU-SafeRLHF-30K",
            "PKU-Alignment/PKU-SafeRLHF-10K",
        ),
        aliases=("pku", "c2eval"),
    )
)

QA = register_format(
    SourceFormat(
        name="pku-saferlhf-qa",
        description="PKU-SafeRLHF-QA: one answer per row with is_safe, harm category, severity",
        convert=convert_qa,
        required=frozenset({"prompt", "response"}),
        optional=frozenset(
            {
                "is_safe",
                "harm_category",
                "severity_level",
                "safety_category",
                "severity_category",
                *_QA_METADATA,
            }
        ),
        detect=lambda columns, origin: (
            {"prompt", "response"} <= columns
            and bool({"severity_level", "severity_category", "safety_category"} & columns)
        ),
        strict=True,
        hub_ids=("PKU-Alignment/PKU-SafeRLHF-QA",),
        aliases=("pku-qa",),
    )
)
