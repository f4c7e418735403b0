"""The built-in judges, registered by name (see `build_judge`)."""

from __future__ import annotations

from pathlib import Path

from safealign.evaluate.judges import hub, keyword, llm
from safealign.evaluate.judges.base import Judge, Question, build_judge, register_judge
from safealign.evaluate.judges.guard import GuardJudge
from safealign.evaluate.judges.jury import JuryJudge
from safealign.evaluate.judges.refusal_classifier import DEFAULT_HEAD, RefusalClassifierJudge


def register_builtin_judges() -> None:
    register_judge("refusal-keyword", lambda arg: keyword.refusal_keyword_judge())
    register_judge(
        "course-correction-keyword", lambda arg: keyword.course_correction_keyword_judge()
    )
    register_judge("refusal-model", lambda arg: _refusal_head(arg, "refusal-model", "refusal"))
    # The same head asked about a C2-Eval continuation alone: it learned refusal wording from
    # Do-Not-Answer's human labels, not from C2-Syn's corrective triggers (which the keyword list
    # shares), so it checks a course-correction run's Corr_mean independently of that list.
    register_judge(
        "course-correction-model",
        lambda arg: _refusal_head(arg, "course-correction-model", "course_correction"),
    )
    register_judge(
        "harm-llm", lambda arg: _named(llm.harm_llm_judge(arg or "embedded"), "harm-llm", arg)
    )
    register_judge(
        "refusal-llm",
        lambda arg: _named(llm.refusal_llm_judge(arg or "embedded"), "refusal-llm", arg),
    )
    register_judge(
        "course-correction-llm",
        lambda arg: _named(
            llm.course_correction_llm_judge(arg or "embedded"), "course-correction-llm", arg
        ),
    )
    register_judge("jury", _jury)
    register_judge("harm-guard", lambda arg: GuardJudge(arg or "embedded", "harm"))
    register_judge("refusal-guard", lambda arg: GuardJudge(arg or "embedded", "refusal"))
    register_judge("harmbench-cls", hub.harmbench_judge)
    register_judge("strongreject-ft", hub.strongreject_judge)


def _refusal_head(arg: str | None, base: str, question: Question) -> Judge:
    """The refusal-model head (or HEAD.safetensors from train-refusal-judge), named `base@arg`."""
    judge = RefusalClassifierJudge(head=Path(arg) if arg else DEFAULT_HEAD, question=question)
    return _named(judge, base, arg)


def _jury(arg: str | None) -> Judge:
    members = [build_judge(name) for name in (arg or "").split(",") if name.strip()]
    return JuryJudge(members, name=f"jury:{','.join(m.name for m in members)}")


def _named(judge, base: str, arg: str | None):
    judge.name = f"{base}@{arg}" if arg else base
    return judge
