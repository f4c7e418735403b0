"""What a task asks the model: one conversation, what a safe model should do, and its labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from safealign.data.schema import Message, Sample, messages_from_dicts, messages_to_dicts

Expected = Literal["refuse", "comply"]


@dataclass
class EvalItem:
    """One prompt to generate for. Harmful prompts expect "refuse", benign ones "comply"."""

    id: str
    conversation: list[Message]
    expected: Expected | None
    category: str = "all"
    assistant_prefix: str = ""
    """Prefilled start of the assistant turn (C2-Eval, prefill attacks); the model continues it."""
    attack: str | None = None
    k: int | None = None
    """C2-Eval: how many whitespace tokens of the harmful response the prefix holds."""
    group: str | None = None
    """Bootstrap cluster (items sharing a source prompt); defaults to `id`."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        users = [m.content for m in self.conversation if m.role == "user"]
        return users[-1] if users else ""

    @property
    def cluster(self) -> str:
        return self.group or self.id

    def to_record(self) -> dict[str, Any]:
        return {
            "item_id": self.id,
            "group": self.cluster,
            "expected": self.expected,
            "category": self.category,
            "attack": self.attack,
            "k": self.k,
            "prompt": self.prompt,
            "conversation": messages_to_dicts(self.conversation),
            "assistant_prefix": self.assistant_prefix,
            "metadata": self.metadata,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EvalItem:
        return cls(
            id=record["item_id"],
            conversation=messages_from_dicts(record["conversation"]),
            expected=record.get("expected"),
            category=record.get("category") or "all",
            assistant_prefix=record.get("assistant_prefix") or "",
            attack=record.get("attack"),
            k=record.get("k"),
            group=record.get("group"),
            metadata=record.get("metadata") or {},
        )


def item_from_sample(sample: Sample, index: int, *, expected: Expected | None = None) -> EvalItem:
    """A prompt item from a loaded Sample; `expected` defaults from `sample.prompt_harmful`."""
    if expected is None and sample.prompt_harmful is not None:
        expected = "refuse" if sample.prompt_harmful else "comply"
    source = sample.source or "data"
    return EvalItem(
        id=sample.id or f"{source}-{index}",
        conversation=sample.conversation,
        expected=expected,
        category=sample_category(sample),
        metadata={"source": source, **_plain(sample.metadata)},
    )


def sample_category(sample: Sample) -> str:
    """First prompt category, else the source's own type/category field, else "all"."""
    if sample.prompt_categories:
        return sample.prompt_categories[0]
    for key in ("type", "category", "types_of_harm", "risk_area"):
        value = sample.metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return "all"


def _plain(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}
