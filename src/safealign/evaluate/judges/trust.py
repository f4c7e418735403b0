"""Which judges may give a headline number: those not measured to be uninformative.

A judge is listed here only with the measurement that showed it does not separate the classes
(docs/evaluation.md). Such a judge still runs when asked for by name, but reports mark its rates
"not informative" and never put them in a headline, a plot, or a default.
"""

from __future__ import annotations

from safealign.evaluate.judges.base import split_judge_spec

SMALL_JUDGE_MODELS = (None, "embedded", "HuggingFaceTB/SmolLM2-135M-Instruct")
"""Model arguments that mean the embedded 135M model (None: the judge's default, embedded)."""

UNINFORMATIVE: dict[str, str] = {
    "harm-llm": (
        "on the embedded 135M model it barely separates harmful from safe prompts (XSTest: "
        "mean P(yes) 0.29 vs 0.28, AUC 0.56); use harm-guard or harm-llm@<larger model>"
    ),
}
"""Judge base name -> why it is not informative when it runs on a small model."""


def judge_caveat(name: str) -> str | None:
    """Why the judge called `name` is not informative, or None when nothing says so."""
    base, model = split_judge_spec(name)
    if base in UNINFORMATIVE and model in SMALL_JUDGE_MODELS:
        return UNINFORMATIVE[base]
    return None


def is_informative(name: str) -> bool:
    """False for a judge measured not to separate the classes (never a headline)."""
    return judge_caveat(name) is None
