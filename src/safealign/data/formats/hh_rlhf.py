"""Anthropic HH-RLHF: `chosen` and `rejected` transcripts ("\\n\\nHuman: ...\\n\\nAssistant: ...").

Both transcripts share the conversation up to the last assistant turn; that shared part becomes
the context and prompt, and the two final assistant turns the responses. Crowdworkers chose
`chosen` as the less harmful (harmless-base) or more helpful answer, so better = safer = 0.
The split point is the longest common prefix that ends with an assistant marker, which also
handles the few rows whose transcripts diverge earlier.
"""

from __future__ import annotations

import re
from typing import Any

import safealign.data.validation as check
from safealign.data.registry import RowOrigin, SourceFormat, register_format
from safealign.data.schema import Message, Response, Sample
from safealign.data.validation import RowError

ASSISTANT = "\n\nAssistant:"
_TURN = re.compile(r"\n\n(Human|Assistant):")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def convert(row: dict[str, Any], origin: RowOrigin) -> list[Sample]:
    chosen = check.text(row, "chosen")
    rejected = check.text(row, "rejected")
    split = shared_prefix_end(chosen, rejected)
    if split is None:
        raise RowError('has no "\\n\\nAssistant:" turn shared with "rejected".', "chosen")
    messages = parse_dialogue(chosen[:split])
    if not messages or messages[-1].role != "user":
        raise RowError("the shared conversation does not end with a Human turn.", "chosen")
    responses = [
        Response(text=chosen[split + len(ASSISTANT) :].strip()),
        Response(text=rejected[split + len(ASSISTANT) :].strip()),
    ]
    return [
        Sample(
            prompt=messages[-1].content,
            context=messages[:-1],
            responses=responses,
            better=0,
            safer=0,
            source="hh-rlhf",
        )
    ]


def shared_prefix_end(a: str, b: str) -> int | None:
    """Index of the last "\\n\\nAssistant:" inside the common prefix of `a` and `b`."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    index = a.rfind(ASSISTANT, 0, common)
    return None if index == -1 else index


def parse_dialogue(text: str) -> list[Message]:
    """Split a "\\n\\nHuman: ...\\n\\nAssistant: ..." transcript into chat messages."""
    parts = _TURN.split(text)
    if parts[0].strip():
        raise RowError('must start with "\\n\\nHuman:".', "chosen")
    return [
        Message(_ROLES[role], content.strip())
        for role, content in zip(parts[1::2], parts[2::2], strict=True)
    ]


FORMAT = register_format(
    SourceFormat(
        name="hh-rlhf",
        description="Anthropic HH-RLHF chosen/rejected transcripts (harmless-base, helpful-*)",
        convert=convert,
        required=frozenset({"chosen", "rejected"}),
        detect=lambda columns, origin: columns == {"chosen", "rejected"},
        strict=True,
        hub_ids=("Anthropic/hh-rlhf",),
        aliases=("hh",),
    )
)
