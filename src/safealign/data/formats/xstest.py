"""XSTest (over-refusal): the prompt list (safe / unsafe contrast prompts) and the
human-labelled model completions (full compliance / full refusal / partial refusal).

Unsafe prompts are the `contrast_*` types; a completion's refusal bit is set for full and
partial refusals, and the verbatim `final_label` is kept in `Response.label`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Response, Sample

FINAL_LABELS = ("1_full_compliance", "2_full_refusal", "3_partial_refusal")
_MODEL = re.compile(r"completions_(.+)$")


def convert(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    kind = check.text(row, "type")
    metadata: dict[str, Any] = {"type": kind}
    metadata.update({k: row[k] for k in ("focus", "note") if not check.missing(row.get(k))})
    responses = []
    if "completion" in row:
        label = check.choice(row, "final_label", FINAL_LABELS)
        responses.append(
            Response(
                text=check.text(row, "completion", required=False) or "",
                refusal=label != "1_full_compliance",
                label=label,
            )
        )
        model = _MODEL.search(Path(origin.path).name.split(".")[0])
        if model:
            metadata["model"] = model.group(1)
        harmful = kind.startswith("contrast_")
    else:
        harmful = check.choice(row, "label", ("safe", "unsafe")) == "unsafe"
    return [
        Sample(
            prompt=check.text(row, "prompt"),
            responses=responses,
            prompt_harmful=harmful,
            id=None if check.missing(row.get("id")) else str(row["id"]),
            source="xstest",
            metadata=metadata,
        )
    ]


FORMAT = register_format(
    SourceFormat(
        name="xstest",
        description="XSTest prompts (safe/unsafe) or its human-labelled model completions",
        convert=convert,
        required=frozenset({"prompt", "type"}),
        optional=frozenset(
            {"id", "label", "focus", "note", "completion", "final_label"}
            | {"annotation_1", "annotation_2", "agreement"}
        ),
        detect=lambda columns, origin: (
            {"prompt", "type", "label", "focus"} <= columns
            or {"prompt", "type", "completion", "final_label"} <= columns
        ),
    )
)
