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
from safealign.evaluate.preference import (
    PREFERENCE_TASK,
    PreferenceSettings,
    preference_choices,
    preference_metrics,
)
from safealign.evaluate.quick import QuickSafetyResult, quick_safety_check
from safealign.evaluate.report import compare_runs, write_run_reports
from safealign.evaluate.rundir import RunResult, load_run
from safealign.evaluate.runner import run_eval
from safealign.evaluate.scoring import rescore
from safealign.evaluate.stats import Agreement, Rate, agreement, fleiss_kappa, rate_with_ci
from safealign.evaluate.suite import builtin_suite
from safealign.evaluate.task import Task
from safealign.evaluate.tasks import (
    TASKS,
    C2EvalSettings,
    CompanionSettings,
    DatasetSettings,
    JailbreakSettings,
    LimitSettings,
    eval_config_from,
    get_task,
    load_eval_config,
    register_task,
    settings_classes,
    task_items,
)

register_task(PREFERENCE_TASK)  # the registry never imports its plugins back

__all__ = [
    "ATTACKS",
    "K_VALUES",
    "TASKS",
    "Agreement",
    "C2EvalSettings",
    "ChatBackend",
    "CompanionSettings",
    "DatasetSettings",
    "EvalConfig",
    "EvalItem",
    "JailbreakSettings",
    "Judge",
    "JudgeInput",
    "JudgeScore",
    "LimitSettings",
    "OpenAIBackend",
    "PreferenceSettings",
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
    "eval_config_from",
    "fleiss_kappa",
    "get_task",
    "judge_agreement",
    "judge_names",
    "label_with_jury",
    "load_eval_config",
    "load_run",
    "preference_choices",
    "preference_metrics",
    "quick_safety_check",
    "rate_with_ci",
    "register_judge",
    "register_task",
    "rescore",
    "run_eval",
    "settings_classes",
    "task_items",
    "train_refusal_head",
    "write_run_reports",
    "xstest_completions",
]
