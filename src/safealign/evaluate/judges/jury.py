"""A jury: several judges of the same question, combined by majority vote (as Aegis 2.0 labels
responses with three LLMs). Usable wherever a judge is, and as a labelling tool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safealign.errors import ConfigError
from safealign.evaluate.judges.base import Judge, JudgeInput, JudgeScore


@dataclass
class JuryJudge:
    """Majority of the members' labels; a tie (or every member abstaining) gives None."""

    members: list[Judge]
    name: str = "jury"

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ConfigError(
                "a jury needs at least two judges, e.g. jury:refusal-keyword,refusal-model"
            )
        names = [m.name for m in self.members]
        if len(set(names)) < len(names):
            raise ConfigError(f"a jury needs distinct judges; got {', '.join(names)}")
        questions = {m.question for m in self.members}
        if len(questions) > 1:
            listing = ", ".join(f"{m.name} ({m.question})" for m in self.members)
            raise ConfigError(f"jury members must answer the same question; got {listing}")
        self.question = self.members[0].question

    def score(self, items: Sequence[JudgeInput]) -> list[JudgeScore]:
        per_member = {m.name: m.score(items) for m in self.members}
        return [
            majority({name: scores[i] for name, scores in per_member.items()})
            for i in range(len(items))
        ]


def majority(scores: dict[str, JudgeScore]) -> JudgeScore:
    """Combine member verdicts: label by majority, probability = share of yes votes."""
    votes = {name: s.label for name, s in scores.items()}
    cast = [v for v in votes.values() if v is not None]
    yes = sum(cast)
    no = len(cast) - yes
    label = None if yes == no else yes > no
    return JudgeScore(
        label=label,
        probability=yes / len(cast) if cast else None,
        explanation=f"{yes} yes / {no} no"
        + (f" / {len(votes) - len(cast)} abstained" if len(cast) < len(votes) else ""),
        votes=votes,
    )
