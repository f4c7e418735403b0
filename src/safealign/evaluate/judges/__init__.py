"""Judges: keyword baselines, LLM yes/no judges, a refusal classifier, juries; all by name."""

from safealign.evaluate.judges.base import (
    QUESTIONS,
    Judge,
    JudgeInput,
    JudgeScore,
    build_judge,
    judge_names,
    register_judge,
)
from safealign.evaluate.judges.builtin import register_builtin_judges
from safealign.evaluate.judges.jury import JuryJudge, majority
from safealign.evaluate.judges.keyword import KeywordJudge
from safealign.evaluate.judges.llm import YesNoJudge, yes_probabilities
from safealign.evaluate.judges.refusal_classifier import RefusalClassifierJudge, train_refusal_head
from safealign.evaluate.judges.trust import UNINFORMATIVE, is_informative, judge_caveat

register_builtin_judges()

__all__ = [
    "QUESTIONS",
    "UNINFORMATIVE",
    "Judge",
    "JudgeInput",
    "JudgeScore",
    "JuryJudge",
    "KeywordJudge",
    "RefusalClassifierJudge",
    "YesNoJudge",
    "build_judge",
    "is_informative",
    "judge_caveat",
    "judge_names",
    "majority",
    "register_judge",
    "train_refusal_head",
    "yes_probabilities",
]
