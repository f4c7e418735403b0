"""C2-Syn (arXiv 2407.16637): preference pairs that teach a model to correct course mid-answer.

From a harmful request and a harmful answer: count the answer's punctuation marks t, pick a step
of about t/4, and cut the answer after 1, 2, 3 and 4 steps' worth of marks. Each cut becomes an
assistant prefix "opener + cut + corrective trigger" that an aligned model continues (SYN_1..4);
the aligned model also answers from scratch (SR). Correcting earlier is better, so the ranking is
SR > SYN_1 > SYN_2 > SYN_3 > SYN_4 > harmful, and all 15 ordered pairs become DPO pairs.

Choices where the paper leaves room, made so that a small CPU model gives clean pairs:
- one opener per prompt, also put before the harmful answer, so that every pair shares its
  opening and differs exactly where one answer turns around (the DPO signal is at that point);
- the continuation after the trigger keeps its first sentence only (`continuation="sentence"`):
  a 135M "aligned model" tends to drift back into complying after one sentence;
- the safe response can open with a prefilled refusal (`safe_response="prefilled-refusal"`);
- prompt-only sources (harmful instructions without answers) are answered by the model itself
  without the safety prompt (the untuned embedded model complies), and those answers are the
  harmful responses; answers that refuse are dropped.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from safealign.data.refusal import REFUSAL_OPENINGS, is_refusal
from safealign.data.schema import Message, Response, Sample
from safealign.data.text import first_sentence
from safealign.models import GenerationConfig, LoadedModel, generate
from safealign.train.synthesis.prompts import SAFETY_SYSTEM_PROMPT

PUNCTUATION = frozenset(',.!:;?-"(){}[]')
"""The marks that count as cut points (as in the C2-Syn scripts)."""
OPENERS = (
    "Sure, I can help you with that.",
    "Of course, I can assist you with that.",
    "Certainly, I can help you with that.",
    "Absolutely, I can help you with that.",
    "Yes, I can help you with that.",
    "I'd be happy to help you with that.",
)
"""Affirmative openers put before the harmful cut (as an attack prefill would)."""
CORRECTIVE_TRIGGERS = (
    "However, I cannot provide",
    "However, I must remind you that",
    "but I must advise you that",
    "but I cannot provide",
    "but I must point out that",
    "However, I am unable to assist with",
    "but I need to let you know",
)
"""Phrases that turn the answer around; the aligned model finishes the sentence."""
NUM_CUTS = 4


@dataclass
class CourseCorrectionConfig:
    """Settings of `safealign synth course-correction`."""

    data: str | None = None
    """Harmful (request, response) source: PKU-format pairs, hh-rlhf, or safealign Sample JSONL."""
    data_format: str | None = None
    """Loader format name (None guesses from the file)."""
    data_split: str | None = None
    """Split to read, for sources that hold several."""
    limit: int | None = None
    """Use at most this many harmful pairs (after filtering)."""
    column_map: dict[str, str | list[str]] | None = None
    """Map safealign column names to the file's."""
    output: str = "runs/synth/course_correction.jsonl"
    """Where the pairs go (safealign Sample JSONL: `safealign train` reads it directly)."""
    model: str = "embedded"
    """The aligned model that continues the prefixes and writes the safe response."""
    dtype: str = "auto"
    """Compute dtype of that model."""
    system_prompt: str | None = SAFETY_SYSTEM_PROMPT
    """System prompt for the aligned model (None: none, for models aligned already)."""
    max_new_tokens: int = 64
    """Tokens per continuation and per safe response."""
    temperature: float = 0.0
    """0 = greedy, which with the seeded cuts makes the output deterministic."""
    batch_size: int = 8
    """Prompts per generation batch."""
    min_punctuation: int = 8
    """Skip harmful responses with fewer punctuation marks (too short to cut four times)."""
    seed: int = 0
    """Seeds the cut step, opener and trigger choices."""
    continuation: Literal["sentence", "full"] = "sentence"
    """Keep the aligned model's continuation up to its first sentence end, or all of it."""
    safe_response: Literal["generated", "prefilled-refusal"] = "generated"
    """SR written from scratch, or continued from a refusal opening (for unaligned models)."""
    answer_prompt_only: bool = True
    """Prompt-only items get a harmful response from the model itself, without system prompt."""
    harmful_max_new_tokens: int = 96
    """Tokens of those self-generated harmful responses."""
    resume: bool = False
    """Reuse the answers an interrupted run with the same settings recorded in the journal
    folder beside `output` (`<output without suffix>.journal/`), and generate only the rest."""


def count_punctuation(text: str) -> int:
    return sum(char in PUNCTUATION for char in text)


def cut_after_marks(text: str, marks: int) -> str:
    """`text` up to and including its `marks`-th punctuation mark (all of it if fewer)."""
    seen = 0
    for position, char in enumerate(text):
        if char in PUNCTUATION:
            seen += 1
            if seen == marks:
                return text[: position + 1]
    return text


def cut_points(num_marks: int, rng: random.Random, cuts: int = NUM_CUTS) -> list[int]:
    """Mark counts to cut after: multiples 1..cuts of a step drawn from {t//cuts - 1, t//cuts}."""
    base = num_marks // cuts
    if base < 1:
        raise ValueError(
            f"need at least {cuts} punctuation marks to cut {cuts} times, got {num_marks}"
        )
    step = rng.randint(max(base - 1, 1), base)
    return [i * step for i in range(1, cuts + 1)]


def course_correction_prefixes(
    harmful_response: str, rng: random.Random, cuts: int = NUM_CUTS, opener: str | None = None
) -> list[str]:
    """The four assistant prefixes: opener + harmful response cut at point i + trigger.

    One opener serves all four (drawn here unless given); the trigger is drawn per prefix.
    """
    points = cut_points(count_punctuation(harmful_response), rng, cuts)
    opener = opener if opener is not None else rng.choice(OPENERS)
    prefixes = []
    for point in points:
        trigger = rng.choice(CORRECTIVE_TRIGGERS)
        prefixes.append(f"{opener} {cut_after_marks(harmful_response, point)} {trigger}")
    return prefixes


def join_continuation(prefix: str, continued: str) -> str:
    """Prefix + the model's continuation, with a space where the tokenizer dropped it."""
    needs_space = prefix and continued[:1].isalnum()
    return f"{prefix} {continued}" if needs_space else prefix + continued


def ranked_pairs(ranked: Sequence[str]) -> list[tuple[int, int]]:
    """Every (better, worse) rank pair of a best-first list: 15 for C2-Syn's six responses."""
    return list(itertools.combinations(range(len(ranked)), 2))


def harmful_responses(
    samples: Sequence[Sample], min_punctuation: int = 8
) -> list[tuple[Sample, str]]:
    """(sample, harmful response) for every sample with a response labelled unsafe.

    Without safety labels, the less safe response of a pair ordered by `safer` is taken (e.g.
    hh-rlhf's rejected answer). Responses too short to cut four times are left out.
    """
    found = []
    for sample in samples:
        unsafe = [r.text for r in sample.responses if r.is_safe is False]
        unlabelled = all(r.is_safe is None for r in sample.responses)
        if not unsafe and sample.is_pair and sample.safer is not None and unlabelled:
            unsafe = [sample.responses[1 - sample.safer].text]
        long_enough = [t for t in unsafe if count_punctuation(t) >= min_punctuation]
        if long_enough:
            found.append((sample, max(long_enough, key=count_punctuation)))
    return found


def synthesize_course_correction(
    items: Sequence[tuple[Sample, str]],
    loaded: LoadedModel,
    config: CourseCorrectionConfig,
    *,
    progress: bool = True,
    journal: Path | None = None,
) -> list[Sample]:
    """15 ranked pairs per (request, harmful response), as two-response Samples (chosen first).

    One generation call covers the safe responses and all continuations (recorded batch by
    batch in `journal` if given, reused with `config.resume`: see `safealign.models.generate`).
    """
    rng = random.Random(config.seed)
    openers = [rng.choice(OPENERS) for _ in items]
    prefixes = [
        course_correction_prefixes(harmful, rng, opener=opener)
        for (_, harmful), opener in zip(items, openers, strict=True)
    ]
    conversations: list[list[Message]] = []
    assistant_prefixes: list[str | None] = []
    for (sample, _), cut_prefixes in zip(items, prefixes, strict=True):
        safe_prefix = (
            rng.choice(REFUSAL_OPENINGS) if config.safe_response == "prefilled-refusal" else None
        )
        for prefix in [safe_prefix, *cut_prefixes]:
            conversations.append(sample.conversation)
            assistant_prefixes.append(prefix)
    outputs = generate(
        loaded,
        conversations,
        GenerationConfig(
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            batch_size=config.batch_size,
            seed=config.seed,
            system_prompt=config.system_prompt,
        ),
        assistant_prefixes=assistant_prefixes,
        progress=progress,
        journal=journal,
        resume=config.resume,
    )
    texts = []
    for prefix, out in zip(assistant_prefixes, outputs, strict=True):
        continued = out[0].output
        if prefix is not None and config.continuation == "sentence":
            continued = first_sentence(continued)
        texts.append(join_continuation(prefix or "", continued))
    per_item = NUM_CUTS + 1
    samples = []
    for number, ((sample, harmful), opener) in enumerate(zip(items, openers, strict=True)):
        generated = [t.strip() for t in texts[number * per_item : (number + 1) * per_item]]
        ranked = [*generated, f"{opener} {harmful}"]
        group = sample.id or str(number)
        for better, worse in ranked_pairs(ranked):
            samples.append(
                Sample(
                    prompt=sample.prompt,
                    context=list(sample.context),
                    responses=[
                        Response(ranked[better], is_safe=False if better == per_item else None),
                        Response(ranked[worse], is_safe=False if worse == per_item else None),
                    ],
                    better=0,
                    safer=0,
                    prompt_harmful=True,
                    id=f"{group}:{better}>{worse}",
                    source="c2-syn",
                    metadata={"group": group, "chosen_rank": better, "rejected_rank": worse},
                )
            )
    return samples


def answer_harmful_prompts(
    samples: Sequence[Sample],
    loaded: LoadedModel,
    config: CourseCorrectionConfig,
    *,
    progress: bool = True,
    journal: Path | None = None,
) -> list[tuple[Sample, str]]:
    """(sample, the model's own answer) for prompt-only harmful requests, without system prompt.

    The untuned model complies with most of them; answers that open with a refusal, or are too
    short to cut four times, are dropped.
    """
    outputs = generate(
        loaded,
        [s.conversation for s in samples],
        GenerationConfig(
            max_new_tokens=config.harmful_max_new_tokens,
            batch_size=config.batch_size,
            seed=config.seed,
        ),
        progress=progress,
        journal=journal,
        resume=config.resume,
    )
    found = []
    for sample, out in zip(samples, outputs, strict=True):
        answer = out[0].output.strip()
        if not is_refusal(answer) and count_punctuation(answer) >= config.min_punctuation:
            found.append((sample, answer))
    return found
