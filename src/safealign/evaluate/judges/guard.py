"""Any safealign guard as a judge: `harm-guard[@SPEC]` and `refusal-guard[@SPEC]`.

The guard moderates the whole exchange (prompt + answer); its response-harm verdict answers
"is it harmful", its refusal verdict answers "did it refuse". SPEC is anything `load_guard`
takes ("embedded" by default, a trained guard folder, or "llm:<model>").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safealign.data.schema import Message
from safealign.evaluate.judges.base import JudgeInput, JudgeScore, Question
from safealign.guard import load_guard


@dataclass
class GuardJudge:
    """Reads one field of the guard's Verdict for each (conversation, answer)."""

    spec: str
    question: Question
    name: str = ""

    def __post_init__(self) -> None:

        self.guard = load_guard(self.spec)
        self.name = self.name or f"{self.question}-guard@{self.spec}"

    def score(self, items: Sequence[JudgeInput]) -> list[JudgeScore]:
        conversations = [
            [*item.conversation, Message("assistant", item.assistant_prefix + item.output)]
            for item in items
        ]
        field = "response_harmful" if self.question == "harm" else "refusal"
        scores = []
        for verdict in self.guard.classify(conversations):
            value = getattr(verdict, field)
            if value is None or verdict.parse_error:
                scores.append(JudgeScore(None, explanation=verdict.parse_error or "no verdict"))
            else:
                scores.append(JudgeScore(value.label, value.probability))
        return scores
