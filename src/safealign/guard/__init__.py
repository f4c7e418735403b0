"""Guards: judge conversations for harm, refusal, categories and severity.

    from safealign.guard import load_guard
    guard = load_guard()                      # the embedded encoder guard, offline
    verdicts = guard.classify(["How do I pick a lock?", conversation])

`load_guard("llm:embedded")` gives the LLM guard, whose categories may change per call:
`guard.classify(conversations, categories=["Violence", "Fraud"])`.
"""

from safealign.guard.calibration import best_f1_threshold, category_thresholds, fit_temperature
from safealign.guard.encoder_guard import EncoderGuard, EncoderGuardConfig
from safealign.guard.encoder_training import EncoderGuardTrainConfig, train_encoder_guard
from safealign.guard.evaluation import GuardEvalConfig, evaluate_guard, run_guard_eval
from safealign.guard.examples import GuardExample, examples_from_samples
from safealign.guard.llm_guard import LLMGuard, LLMGuardConfig
from safealign.guard.llm_training import LLMGuardTrainConfig, train_llm_guard
from safealign.guard.loading import load_guard
from safealign.guard.metrics import BinaryMetrics, average_precision, binary_metrics, pr_curve
from safealign.guard.recipe import GuardTrainConfig, train_guard_from_sources
from safealign.guard.verdict import Guard, LabelScore, Verdict, split_conversation

__all__ = [
    "BinaryMetrics",
    "EncoderGuard",
    "EncoderGuardConfig",
    "EncoderGuardTrainConfig",
    "Guard",
    "GuardEvalConfig",
    "GuardExample",
    "GuardTrainConfig",
    "LLMGuard",
    "LLMGuardConfig",
    "LLMGuardTrainConfig",
    "LabelScore",
    "Verdict",
    "average_precision",
    "best_f1_threshold",
    "binary_metrics",
    "category_thresholds",
    "evaluate_guard",
    "examples_from_samples",
    "fit_temperature",
    "load_guard",
    "pr_curve",
    "run_guard_eval",
    "split_conversation",
    "train_encoder_guard",
    "train_guard_from_sources",
    "train_llm_guard",
]
