"""The one sample schema every loader maps onto (DESIGN.md, "One sample schema").

A `Sample` is one user request in context, with zero, one or two responses. Each response may
carry safety labels (is_safe, harm categories from a named taxonomy, severity 0-3, refusal); a
pair carries the two preference labels of PKU-SafeRLHF: `better` (more helpful) and `safer`
(more harmless). Keeping both lets one file feed DPO (by `safer`) and BFPO (by `better` plus
safety flags) alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")

SEVERITY_NAMES: dict[int, str] = {0: "safe", 1: "minor", 2: "moderate", 3: "severe"}


@dataclass
class Message:
    """One chat turn."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {self.role!r}")


@dataclass
class Response:
    """A model answer to the sample's prompt, with whatever safety labels its source gives."""

    text: str
    is_safe: bool | None = None
    categories: list[str] = field(default_factory=list)
    severity: int | None = None
    refusal: bool | None = None
    label: str | None = None
    """The source's own label, verbatim (e.g. XSTest's "full_refusal"), for traceability."""

    def __post_init__(self) -> None:
        if self.severity is not None and self.severity not in SEVERITY_NAMES:
            raise ValueError(f"severity must be 0, 1, 2 or 3, got {self.severity!r}")


@dataclass
class Sample:
    """One request (`prompt`, after optional earlier turns `context`) and its responses."""

    prompt: str
    context: list[Message] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    prompt_harmful: bool | None = None
    prompt_categories: list[str] = field(default_factory=list)
    taxonomy: str | None = None
    better: int | None = None
    """Index of the more helpful response in a pair."""
    safer: int | None = None
    """Index of the more harmless response in a pair."""
    id: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError("prompt must be a non-empty string")
        for name in ("better", "safer"):
            value = getattr(self, name)
            if value is not None and value not in range(len(self.responses)):
                raise ValueError(
                    f"{name} must index one of the {len(self.responses)} responses, got {value!r}"
                )

    @property
    def conversation(self) -> list[Message]:
        """The messages the model sees: earlier turns, then the user prompt."""
        return [*self.context, Message("user", self.prompt)]

    def conversation_with(self, response: int | str) -> list[Message]:
        """The conversation followed by one assistant response (by index, or a text)."""
        text = self.responses[response].text if isinstance(response, int) else response
        return [*self.conversation, Message("assistant", text)]

    @property
    def is_pair(self) -> bool:
        return len(self.responses) == 2

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; `Sample.from_dict` inverts it exactly."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        data = dict(data)
        data["context"] = [Message(**m) for m in data.get("context") or []]
        data["responses"] = [Response(**r) for r in data.get("responses") or []]
        return cls(**data)


def messages_to_dicts(messages: list[Message]) -> list[dict[str, str]]:
    """Chat-template input: a list of {"role", "content"} dicts."""
    return [{"role": m.role, "content": m.content} for m in messages]


def messages_from_dicts(messages: list[dict[str, str]]) -> list[Message]:
    return [Message(role=m["role"], content=m["content"]) for m in messages]
