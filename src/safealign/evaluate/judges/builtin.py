"""The built-in judges, registered by name (see `build_judge`)."""

from __future__ import annotations

from pathlib import Path

from safealign.evaluate.judges import keyword, llm
from safealign.evaluate.judges.base import Judge, build_judge, register_judge
from safealign.evaluate.judges.guard import GuardJudge
from safealign.evaluate.judges.jury import JuryJudge
from safealign.evaluate.judges.refusal_classifier import DEFAULT_HEAD, RefusalClassifierJudge


def register_builtin_judges() -> None:
    register_judge("refusal-keyword", lambda arg: keyword.refusal_keyword_judge())
    register_judge(
        "course-correction-keyword", lambda arg: keyword.course_correction_keyword_judge()
    )
    register_judge("refusal-model", _refusal_model)
    register_judge("course-correction-model", _course_correction_model)
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


def _refusal_model(arg: str | None) -> Judge:
    """refusal-model or refusal-model@HEAD.safetensors (a head trained by train-refusal-judge)."""
    judge = RefusalClassifierJudge(head=Path(arg) if arg else DEFAULT_HEAD)
    return _named(judge, "refusal-model", arg)


def _course_correction_model(arg: str | None) -> Judge:
    """The refusal-model judge asked whether a C2-Eval continuation turned away.

    It learned refusal wording from Do-Not-Answer's human labels, not from C2-Syn's corrective
    triggers (which the course-correction keyword list shares), so it checks a course-correction
    run's Corr_mean with a judge that was not written from the training data.
    """
    judge = RefusalClassifierJudge(
        head=Path(arg) if arg else DEFAULT_HEAD, question="course_correction"
    )
    return _named(judge, "course-correction-model", arg)


def _jury(arg: str | None) -> Judge:
    members = [build_judge(name) for name in (arg or "").split(",") if name.strip()]
    return JuryJudge(members, name=f"jury:{','.join(m.name for m in members)}")


def _named(judge, base: str, arg: str | None):
    judge.name = f"{base}@{arg}" if arg else base
    return judge
