"""Small request sets the project writes itself for `safealign demo` (requests only, no answers).

`align_prompts.jsonl` holds 40 harmful and 40 benign requests used to build the demo's red-team
training pairs. They are disjoint from the evaluation suite in `safealign.evaluate.suite`, so the
demo's before/after numbers are measured on prompts the alignment step never saw.
"""

from __future__ import annotations

import json
from pathlib import Path

from safealign.data.schema import Sample

ALIGN_PROMPTS_FILE = Path(__file__).with_name("align_prompts.jsonl")


def align_prompts() -> list[Sample]:
    """The demo's training requests as Samples (prompt and prompt_harmful set)."""
    with ALIGN_PROMPTS_FILE.open() as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [
        Sample(
            prompt=r["prompt"],
            prompt_harmful=r["prompt_harmful"],
            id=f"align-{i}",
            source="safealign-demo",
        )
        for i, r in enumerate(rows)
    ]
