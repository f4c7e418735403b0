"""The judge contract: (conversation, output) -> JudgeScore, and a registry of judges by name.

A judge answers one question about a model output: did it refuse ("refusal"), is it harmful
("harm"), did it correct course after a harmful prefix ("course_correction"). Judges score in
batches because the model-based ones run a forward pass per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from safealign.data.schema import Message
from safealign.errors import ConfigError

Question = Literal["refusal", "harm", "course_correction"]
QUESTIONS: tuple[str, ...] = ("refusal", "harm", "course_correction")


@dataclass
class JudgeInput:
    """What a judge sees: the conversation the model answered, and its output.

    `assistant_prefix` is text put in the assistant turn before the model continued (prefill
    attacks, C2-Eval); the full answer is `assistant_prefix + output`.
    """

    conversation: list[Message]
    output: str
    assistant_prefix: str = ""

    @property
    def prompt(self) -> str:
        """The last user turn (what most judges ask about)."""
        users = [m.content for m in self.conversation if m.role == "user"]
        return users[-1] if users else ""


@dataclass
class JudgeScore:
    """One verdict: a label (None when the judge cannot tell), a probability, and why."""

    label: bool | None
    probability: float | None = None
    explanation: str = ""
    votes: dict[str, bool | None] = field(default_factory=dict)
    """Per-member labels, for juries."""


@runtime_checkable
class Judge(Protocol):
    """Anything that answers `question` for a batch of outputs."""

    name: str
    question: Question

    def score(self, items: Sequence[JudgeInput]) -> list[JudgeScore]: ...


JudgeFactory = Callable[[str | None], Judge]
"""Builds a judge from the argument after "@" or ":" in its name (None when absent)."""

_REGISTRY: dict[str, JudgeFactory] = {}
"""Filled by the judges package's __init__ (built-ins) and by plugins; never imports them."""


def register_judge(name: str, factory: JudgeFactory) -> None:
    """Make a judge pluggable by name in configs and on the CLI (e.g. "guard" -> "guard:PATH")."""
    _REGISTRY[name] = factory


def judge_names() -> list[str]:
    return sorted(_REGISTRY)


def build_judge(spec: str) -> Judge:
    """A judge from its name: "refusal-keyword", "harm-llm@MODEL", "jury:a,b,c", "guard:PATH".

    The part after "@" or the first ":" is handed to the factory (a model spec, a member list).
    """
    spec = spec.strip()
    name, argument = split_judge_spec(spec)
    factory = _REGISTRY.get(name)
    if factory is None:
        raise ConfigError(
            f'unknown judge "{spec}". Known judges: {", ".join(sorted(_REGISTRY))} '
            '(model-based ones take "@MODEL", a jury takes "jury:a,b,c").'
        )
    return factory(argument)


def split_judge_spec(spec: str) -> tuple[str, str | None]:
    """ "harm-llm@MODEL" -> ("harm-llm", "MODEL"); "refusal-keyword" -> (that, None)."""
    cut = [i for i in (spec.find("@"), spec.find(":")) if i >= 0]
    if not cut:
        return spec, None
    i = min(cut)
    return spec[:i], spec[i + 1 :] or None
