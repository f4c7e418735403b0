"""Safety evaluation: tasks, backends, judges, statistics and reports.

dataset -> backend (generation, possibly steered) -> saved generations -> judges -> rates with
bootstrap intervals -> JSON / Markdown / HTML reports. Harmfulness and over-refusal are always
measured and reported together.
"""

from safealign.evaluate.agreement import judge_agreement, label_with_jury, xstest_completions
from safealign.evaluate.attacks import ATTACKS, apply_attack
from safealign.evaluate.backends import ChatBackend, OpenAIBackend, TransformersBackend
from safealign.evaluate.c2eval import K_VALUES, c2eval_items, course_correction_prefix
from safealign.evaluate.config import EvalConfig
from safealign.evaluate.items import EvalItem
from safealign.evaluate.judges import (
    Judge,
    JudgeInput,
    JudgeScore,
    build_judge,
    judge_names,
    register_judge,
    train_refusal_head,
)
from safealign.evaluate.metrics import compute_metrics
from safealign.evaluate.preference import preference_choices, preference_metrics
from safealign.evaluate.quick import QuickSafetyResult, quick_safety_check
from safealign.evaluate.report import compare_runs, write_run_reports
from safealign.evaluate.runner import RunResult, rescore, run_eval
from safealign.evaluate.stats import Agreement, Rate, agreement, fleiss_kappa, rate_with_ci
from safealign.evaluate.suite import builtin_suite
from safealign.evaluate.tasks import TASKS, Task, get_task

__all__ = [
    "ATTACKS",
    "K_VALUES",
    "TASKS",
    "Agreement",
    "ChatBackend",
    "EvalConfig",
    "EvalItem",
    "Judge",
    "JudgeInput",
    "JudgeScore",
    "OpenAIBackend",
    "QuickSafetyResult",
    "Rate",
    "RunResult",
    "Task",
    "TransformersBackend",
    "agreement",
    "apply_attack",
    "build_judge",
    "builtin_suite",
    "c2eval_items",
    "compare_runs",
    "compute_metrics",
    "course_correction_prefix",
    "fleiss_kappa",
    "get_task",
    "judge_agreement",
    "judge_names",
    "label_with_jury",
    "preference_choices",
    "preference_metrics",
    "quick_safety_check",
    "rate_with_ci",
    "register_judge",
    "rescore",
    "run_eval",
    "train_refusal_head",
    "write_run_reports",
    "xstest_completions",
]
