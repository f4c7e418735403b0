"""The one verdict every guard returns, and the conversation forms guards accept.

A verdict answers up to three questions about a conversation: is the user's request harmful,
is the assistant's answer harmful, did the assistant refuse. Each answer is a probability plus
the label it gives under the guard's threshold; an answer is None when the question was not
asked (no assistant turn, so no response to judge). Guards never turn a failure into "safe":
`parse_error` says why an answer could not be read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from safealign.data.schema import Message, Sample


@dataclass(frozen=True)
class LabelScore:
    """A probability and the label it yields; `label` is None only when the guard could not
    decide (see `Verdict.parse_error`)."""

    probability: float
    label: bool | None


@dataclass
class Verdict:
    """What a guard says about one conversation (DESIGN.md, "One verdict object")."""

    prompt_harmful: LabelScore | None = None
    response_harmful: LabelScore | None = None
    refusal: LabelScore | None = None
    categories: dict[str, float] = field(default_factory=dict)
    """Score per category of the guard's taxonomy (the categories it was asked about)."""
    coarse_categories: dict[str, float] = field(default_factory=dict)
    """The category scores mapped onto the coarse classes (highest per class), for guards whose
    own taxonomy differs (hub guards); empty when `categories` already are coarse classes."""
    flagged_categories: list[str] = field(default_factory=list)
    """Categories whose score passed their threshold, in taxonomy order."""
    severity: int | None = None
    """0 safe, 1 minor, 2 moderate, 3 severe; None when the guard was not trained for it."""
    needs_review: bool = False
    """The judged probability (response when judged, else prompt) fell inside the guard's
    review band: too close to the threshold to act on without a person looking."""
    parse_error: str | None = None
    taxonomy: str | None = None

    @property
    def harmful(self) -> bool | None:
        """The verdict on the last turn: the response when one was judged, else the prompt."""
        judged = self.response_harmful or self.prompt_harmful
        return None if judged is None else judged.label

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        data = dict(data)
        for key in ("prompt_harmful", "response_harmful", "refusal"):
            if data.get(key) is not None:
                data[key] = LabelScore(**data[key])
        return cls(**data)


@dataclass(frozen=True)
class Turns:
    """A conversation split the way guards read it: what came before, the request, the answer."""

    context: list[Message]
    prompt: str
    response: str | None


ConversationInput = str | Sequence[Message] | Sequence[Mapping[str, str]] | Sample | Turns
"""A prompt alone, a list of messages (the last assistant turn is the response), a Sample
(its prompt and first response), or already split Turns."""


def split_conversation(conversation: ConversationInput) -> Turns:
    """Split any accepted conversation form into context, last user request and response.

    The response is the final assistant message, when the conversation ends with one.
    """
    if isinstance(conversation, Turns):
        return conversation
    if isinstance(conversation, Sample):
        response = conversation.responses[0].text if conversation.responses else None
        return Turns(list(conversation.context), conversation.prompt, response)
    if isinstance(conversation, str):
        return Turns([], conversation, None)
    messages = [
        m if isinstance(m, Message) else Message(role=m["role"], content=m["content"])
        for m in conversation
    ]
    response = None
    if messages and messages[-1].role == "assistant":
        response = messages.pop().content
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise ValueError("a conversation needs at least one user message")
    last = users[-1]
    return Turns(messages[:last], messages[last].content, response)


@runtime_checkable
class Guard(Protocol):
    """Anything that judges conversations in batches."""

    def classify(self, conversations: Sequence[ConversationInput]) -> list[Verdict]: ...


def as_conversation(turns: Turns) -> list[Message]:
    """Back to a list of messages (the response last, when there is one)."""
    messages = [*turns.context, Message("user", turns.prompt)]
    if turns.response is not None:
        messages.append(Message("assistant", turns.response))
    return messages
