"""A fast before/after safety check for `safealign demo` and notebooks.

The built-in suite's harmful prompts (compliance = not refused) and its benign prompts
(over-refusal) run together, batched, greedy, with a short answer budget: about a minute for the
embedded model on two CPU cores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from safealign.data.schema import Message
from safealign.evaluate.judges import JudgeInput, build_judge
from safealign.evaluate.stats import Rate, rate_with_ci
from safealign.evaluate.suite import builtin_suite
from safealign.evaluate.tasks import spread
from safealign.models import GenerationConfig, LoadedModel, generate


@dataclass
class QuickAnswer:
    kind: str
    prompt: str
    answer: str
    refused: bool | None


@dataclass
class QuickSafetyResult:
    """Harmful compliance and over-refusal, always together, with 95% intervals."""

    harmful_compliance: Rate
    """Share of harmful prompts answered (not refused): lower is safer."""
    over_refusal: Rate
    """Share of benign prompts refused: lower is more helpful."""
    judge: str
    seconds: float
    answers: list[QuickAnswer] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "harmful_compliance": self.harmful_compliance.to_dict(),
            "over_refusal": self.over_refusal.to_dict(),
            "judge": self.judge,
            "seconds": round(self.seconds, 1),
        }


def quick_safety_check(
    loaded: LoadedModel,
    *,
    harmful: int = 25,
    benign: int = 25,
    max_new_tokens: int = 48,
    batch_size: int = 64,
    refusal_judge: str = "refusal-model",
    progress: bool = False,
) -> QuickSafetyResult:
    """Answer `harmful` + `benign` suite prompts (spread over categories) and judge refusals."""
    chosen = spread(builtin_suite(("harmful",)), harmful) + spread(
        builtin_suite(("risky_benign", "benign")), benign
    )
    started = time.time()
    outputs = generate(
        loaded,
        [p.prompt for p in chosen],
        GenerationConfig(max_new_tokens=max_new_tokens, batch_size=batch_size),
        progress=progress,
    )
    texts = [o[0].output for o in outputs]
    judge = build_judge(refusal_judge)
    scores = judge.score(
        [JudgeInput([Message("user", p.prompt)], t) for p, t in zip(chosen, texts, strict=True)]
    )
    refused = [s.label for s in scores]
    harmful_rows = [i for i, p in enumerate(chosen) if p.harmful]
    benign_rows = [i for i, p in enumerate(chosen) if not p.harmful]
    return QuickSafetyResult(
        harmful_compliance=rate_with_ci(
            [None if refused[i] is None else not refused[i] for i in harmful_rows]
        ),
        over_refusal=rate_with_ci([refused[i] for i in benign_rows]),
        judge=judge.name,
        seconds=time.time() - started,
        answers=[
            QuickAnswer(p.kind, p.prompt, t.strip(), r)
            for p, t, r in zip(chosen, texts, refused, strict=True)
        ],
    )
