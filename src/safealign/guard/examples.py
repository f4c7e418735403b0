"""Guard examples: one judged unit (a request, maybe a response) with whichever labels it has.

Samples hold a prompt and up to two responses; a guard learns from each part separately: the
request alone (prompt harm) and each request + response pair (response harm, refusal). A label
that is None is unknown and masked out of the loss, so sources with partial labels mix freely.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from safealign.data.schema import Message, Sample
from safealign.guard.verdict import Turns


@dataclass
class GuardExample:
    """One unit a guard judges, with its (possibly partial) labels."""

    prompt: str
    response: str | None = None
    context: list[Message] = field(default_factory=list)
    prompt_harmful: bool | None = None
    response_harmful: bool | None = None
    refusal: bool | None = None
    categories: list[str] | None = None
    """Harm categories of the judged part; [] = none, None = unknown (masked)."""
    severity: int | None = None
    source: str | None = None
    group: str | None = None
    """Examples sharing a group (same prompt) stay on one side of a train/dev split."""

    @property
    def turns(self) -> Turns:
        return Turns(list(self.context), self.prompt, self.response)

    @property
    def harmful(self) -> bool | None:
        """The label of the judged part: the response when there is one, else the prompt."""
        return self.response_harmful if self.response is not None else self.prompt_harmful


def examples_from_samples(
    samples: Iterable[Sample], *, prompts: bool = True, responses: bool = True
) -> list[GuardExample]:
    """One prompt-level example per sample (when its prompt label is known or it has no
    responses) and one response-level example per labelled response."""
    examples = []
    for index, sample in enumerate(samples):
        group = sample.id or f"{sample.source}:{index}:{sample.prompt[:64]}"
        if prompts and (sample.prompt_harmful is not None or not sample.responses):
            examples.append(
                GuardExample(
                    prompt=sample.prompt,
                    context=list(sample.context),
                    prompt_harmful=sample.prompt_harmful,
                    categories=_known_categories(sample.prompt_harmful, sample.prompt_categories),
                    source=sample.source,
                    group=group,
                )
            )
        if not responses:
            continue
        for response in sample.responses:
            if response.is_safe is None and response.refusal is None:
                continue
            harmful = None if response.is_safe is None else not response.is_safe
            examples.append(
                GuardExample(
                    prompt=sample.prompt,
                    response=response.text,
                    context=list(sample.context),
                    prompt_harmful=sample.prompt_harmful,
                    response_harmful=harmful,
                    refusal=response.refusal,
                    categories=_known_categories(harmful, response.categories),
                    severity=response.severity,
                    source=sample.source,
                    group=group,
                )
            )
    return examples


def _known_categories(harmful: bool | None, categories: Sequence[str]) -> list[str] | None:
    """[] for a safe part; its categories for a harmful one; None (unknown) when none are given."""
    if harmful is False:
        return []
    return list(categories) if harmful and categories else None


def split_by_group(
    examples: Sequence[GuardExample], dev_fraction: float, seed: int = 0
) -> tuple[list[GuardExample], list[GuardExample]]:
    """A train/dev split that keeps every group (prompt) whole, stratified by source."""
    rng = random.Random(seed)
    by_source: dict[str | None, list[str]] = {}
    for example in examples:
        groups = by_source.setdefault(example.source, [])
        if not groups or groups[-1] != example.group:
            groups.append(example.group or "")
    dev_groups: set[tuple[str | None, str]] = set()
    for source, groups in by_source.items():
        unique = sorted(set(groups))
        rng.shuffle(unique)
        dev_groups.update((source, g) for g in unique[: round(len(unique) * dev_fraction)])
    train = [e for e in examples if (e.source, e.group or "") not in dev_groups]
    dev = [e for e in examples if (e.source, e.group or "") in dev_groups]
    return train, dev
