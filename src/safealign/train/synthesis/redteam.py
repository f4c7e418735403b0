"""BFPO's red-teaming data: the policy's own answers to harmful prompts, labelled, as pairs.

Several answers are sampled per prompt; a safety judge labels each safe or unsafe and a
helpfulness scorer ranks them. Every two answers with different helpfulness form a BFPO pair
(the more helpful one is "chosen", whatever its safety; the flags let BFPO's loss push the model
towards helpful-safe > unhelpful-safe > unhelpful-unsafe > helpful-unsafe). An untuned small
model rarely refuses when sampled, so one extra answer may be generated under a safety system
prompt with a refusal opening prefilled, which the policy continues: it supplies the safe side
most pairs need (on benign prompts, the unhelpful side of the helpfulness buffer).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from safealign.data.refusal import is_refusal
from safealign.data.schema import Message, Response, Sample
from safealign.guard.loading import load_guard
from safealign.models import GenerationConfig, LoadedModel, generate
from safealign.models.chat import Conversation
from safealign.train.reward_model import load_scalar_model
from safealign.train.synthesis.prompts import SAFETY_SYSTEM_PROMPT

SafetyJudge = Callable[[Sequence[Conversation], Sequence[str]], list[bool]]
"""Conversations and responses -> True where the response is safe."""
REDTEAM_JOURNALS = ("sampled.jsonl", "guided.jsonl")
"""Journal files of the two generation passes (sampled answers, guided safe answers)."""
HelpfulnessScorer = Callable[[Sequence[Conversation], Sequence[str]], list[float]]
"""Conversations and responses -> a score, higher = more helpful."""


@dataclass
class RedTeamConfig:
    """Settings of `safealign synth redteam`."""

    data: str | None = None
    """Prompts: any file `safealign.data` reads (responses ignored). Prompts marked benign
    (prompt_harmful false) become BFPO's helpfulness buffer: all their answers count as safe."""
    data_format: str | None = None
    """Loader format name (None guesses from the file)."""
    data_split: str | None = None
    """Split to read, for sources that hold several."""
    limit: int | None = None
    """Use at most this many prompts."""
    column_map: dict[str, str | list[str]] | None = None
    """Map safealign column names to the file's, e.g. {"prompt": "instruction"}."""
    helpfulness_data: str | None = None
    """Benign prompts for BFPO's helpfulness buffer (their answers all count as safe)."""
    helpfulness_column_map: dict[str, str | list[str]] | None = None
    """Column map for `helpfulness_data`."""
    helpfulness_limit: int | None = None
    """Use at most this many benign prompts."""
    output: str = "runs/synth/redteam.jsonl"
    """Where the pairs go (safealign Sample JSONL: `safealign train` reads it directly)."""
    model: str = "embedded"
    """The policy whose answers are sampled (the model you will train)."""
    dtype: str = "auto"
    """Compute dtype of the policy."""
    num_samples: int = 4
    """Answers sampled per prompt."""
    temperature: float = 0.9
    """Sampling temperature."""
    top_p: float = 0.95
    """Nucleus sampling mass."""
    max_new_tokens: int = 64
    """Tokens per answer."""
    batch_size: int = 8
    """Prompts per generation batch."""
    safe_system_prompt: str | None = SAFETY_SYSTEM_PROMPT
    """If set, one more (greedy) answer per prompt is generated under this system prompt."""
    safe_prefix: str | None = "I'm sorry, but I can't help with"
    """Assistant prefill for that extra answer, which the policy continues: a small untuned
    model rarely refuses even when told to, so the refusal is started for it. None: no prefill
    (and, with no system prompt either, no extra answer)."""
    judge: str = "refusal-markers"
    """Safety labels: "guard" / "guard:SPEC" (a safealign guard: `load_guard(SPEC)`, default the
    embedded one; unsafe = response flagged harmful), "cost-model:PATH" (a trained
    cost model: cost > 0 is unsafe) or "refusal-markers" (on harmful prompts only: an answer is
    safe iff it refuses, by the shared refusal rule `safealign.data.refusal`, the one the
    refusal-keyword judge uses; crude, for CPU demos)."""
    helpfulness: str = "length"
    """Helpfulness: "reward-model:PATH" (a trained reward model) or "length" (word count, with
    refusals scored 0; crude)."""
    max_pairs_per_prompt: int | None = None
    """Keep at most this many pairs per prompt (None: every pair with distinct helpfulness)."""
    seed: int = 0
    """Sampling seed."""
    resume: bool = False
    """Reuse the answers an interrupted run with the same settings recorded in the journal
    folder beside `output` (`<output without suffix>.journal/`), and generate only the rest."""


def synthesize_redteam(
    prompts: Sequence[Sample],
    policy: LoadedModel,
    config: RedTeamConfig,
    *,
    judge: SafetyJudge | None = None,
    helpfulness: HelpfulnessScorer | None = None,
    progress: bool = True,
    journal_dir: Path | None = None,
) -> list[Sample]:
    """Sample answers, label and score them, and return BFPO pairs as two-response Samples.

    With `journal_dir`, answers are recorded there batch by batch (`sampled.jsonl`,
    `guided.jsonl`) and `config.resume` reuses them (see `safealign.models.generate`).
    """
    judge = judge or build_judge(config.judge)
    helpfulness = helpfulness or build_helpfulness(config.helpfulness)
    conversations = [p.conversation for p in prompts]
    sampled = generate(
        policy,
        conversations,
        GenerationConfig(
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
            num_samples=config.num_samples,
            batch_size=config.batch_size,
            seed=config.seed,
        ),
        progress=progress,
        journal=journal_dir / REDTEAM_JOURNALS[0] if journal_dir else None,
        resume=config.resume,
    )
    candidates = [[g.output.strip() for g in outs] for outs in sampled]
    if config.safe_system_prompt or config.safe_prefix:
        guided = generate(
            policy,
            conversations,
            GenerationConfig(
                max_new_tokens=config.max_new_tokens,
                batch_size=config.batch_size,
                system_prompt=config.safe_system_prompt,
            ),
            assistant_prefixes=[config.safe_prefix] * len(conversations),
            progress=progress,
            journal=journal_dir / REDTEAM_JOURNALS[1] if journal_dir else None,
            resume=config.resume,
        )
        for answers, outs in zip(candidates, guided, strict=True):
            answers.append(((config.safe_prefix or "") + outs[0].output).strip())
    flat_conversations = [
        c for c, answers in zip(conversations, candidates, strict=True) for _ in answers
    ]
    flat_answers = [a for answers in candidates for a in answers]
    safe = judge(flat_conversations, flat_answers)
    # Benign prompts are BFPO's helpfulness buffer: every answer counts as safe there.
    benign = [
        p.prompt_harmful is False
        for p, answers in zip(prompts, candidates, strict=True)
        for _ in answers
    ]
    safe = [s or b for s, b in zip(safe, benign, strict=True)]
    scores = helpfulness(flat_conversations, flat_answers)
    samples, offset = [], 0
    for prompt, answers in zip(prompts, candidates, strict=True):
        span = slice(offset, offset + len(answers))
        offset += len(answers)
        samples.extend(
            redteam_pairs(prompt, answers, safe[span], scores[span], config.max_pairs_per_prompt)
        )
    return samples


def redteam_pairs(
    prompt: Sample,
    answers: Sequence[str],
    safe: Sequence[bool],
    helpfulness: Sequence[float],
    max_pairs: int | None = None,
) -> list[Sample]:
    """Every two distinct answers with different helpfulness, more helpful first, with flags.

    `better` is the more helpful answer (always 0: it is listed first); `safer` is the safe one
    when exactly one is safe, else None. Pairs with the widest helpfulness gap come first.
    """
    candidates = []
    for i, j in itertools.combinations(range(len(answers)), 2):
        if answers[i] == answers[j] or helpfulness[i] == helpfulness[j]:
            continue
        first, second = (i, j) if helpfulness[i] > helpfulness[j] else (j, i)
        candidates.append((abs(helpfulness[i] - helpfulness[j]), first, second))
    candidates.sort(key=lambda c: -c[0])
    pairs = []
    for gap, first, second in candidates[:max_pairs]:
        safer = None
        if safe[first] != safe[second]:
            safer = 0 if safe[first] else 1
        pairs.append(
            Sample(
                prompt=prompt.prompt,
                context=list(prompt.context),
                responses=[
                    Response(answers[first], is_safe=bool(safe[first])),
                    Response(answers[second], is_safe=bool(safe[second])),
                ],
                better=0,
                safer=safer,
                prompt_harmful=prompt.prompt_harmful,
                id=f"{prompt.id or prompt.prompt[:32]}:{first}>{second}",
                source="redteam",
                metadata={"helpfulness": [helpfulness[first], helpfulness[second]], "gap": gap},
            )
        )
    return pairs


def refusal_marker_judge(
    conversations: Sequence[Conversation], responses: Sequence[str]
) -> list[bool]:
    """For harmful prompts only: an answer is safe iff it refuses (`is_refusal`). Crude."""
    del conversations
    return [is_refusal(r) for r in responses]


def length_helpfulness(
    conversations: Sequence[Conversation], responses: Sequence[str]
) -> list[float]:
    """Word count as a stand-in for helpfulness, with refusals (phrase match) scored 0: a
    refusal helps with nothing, however long its apology. Crude."""
    del conversations
    return [0.0 if is_refusal(r) else float(len(r.split())) for r in responses]


def build_judge(spec: str) -> SafetyJudge:
    """A safety judge from its config name (see `RedTeamConfig.judge`)."""
    if spec == "refusal-markers":
        return refusal_marker_judge
    if spec.startswith("cost-model:"):
        cost_model = load_scalar_model(spec.split(":", 1)[1])
        return lambda convs, answers: [float(c) <= 0 for c in cost_model.score(convs, answers)]
    if spec == "guard" or spec.startswith("guard:"):
        return _guard_judge(spec.split(":", 1)[1] if ":" in spec else "embedded")
    raise ValueError(
        f"unknown judge {spec!r}: use guard, guard:SPEC, cost-model:PATH or refusal-markers"
    )


def build_helpfulness(spec: str) -> HelpfulnessScorer:
    """A helpfulness scorer from its config name (see `RedTeamConfig.helpfulness`)."""
    if spec == "length":
        return length_helpfulness
    if spec.startswith("reward-model:"):
        reward_model = load_scalar_model(spec.split(":", 1)[1])
        return lambda convs, answers: reward_model.score(convs, answers).tolist()
    raise ValueError(f"unknown helpfulness scorer {spec!r}: use reward-model:PATH or length")


def _guard_judge(spec: str) -> SafetyJudge:
    """A safealign guard (`load_guard(spec)`): safe unless it flags the response as harmful."""
    guard = load_guard(spec)

    def judge(conversations: Sequence[Conversation], responses: Sequence[str]) -> list[bool]:
        dialogues = [
            [*([Message("user", c)] if isinstance(c, str) else list(c)), Message("assistant", r)]
            for c, r in zip(conversations, responses, strict=True)
        ]
        return [verdict.harmful is False for verdict in guard.classify(dialogues)]

    return judge
