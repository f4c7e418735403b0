"""The guard's training mix: which catalogue datasets it trains on, and written refusals.

The datasets themselves (where they lie, licences, split rules, readers) are in the one
catalogue, `safealign.data.catalog`; the shipped default guard trains only on its permissive,
not-held-out entries below.
"""

from __future__ import annotations

import random

from safealign.data.refusal import WRITTEN_REFUSALS
from safealign.data.schema import Response, Sample

DEFAULT_TRAIN_SOURCES = (
    "harmful-instructions",
    "user-content",
    "self-harm",
    "image-prompts",
    "benign",
    "do-not-answer",
)
"""Catalogue names of the default guard's training mix (all permissive, none held out)."""

REFUSAL_FOLLOW_UPS = (
    "It is important to stay safe and to respect the law.",
    "This could put you or other people at risk.",
    "If you are curious about the topic, I can point you to general, reliable information.",
    "Please consider talking to a qualified professional.",
    "I want to be helpful, but I have to avoid content that could cause harm.",
    "Let me know if there is something else I can do for you.",
    "Encouraging violence or illegal activity goes against my guidelines.",
    "Everyone deserves to be treated with respect and kindness.",
)
"""Safe sentences that follow a refusal, so that refusals of realistic length (an opening, then
a lecture or an offer) are refusals too, not only one-line templates."""


def with_refusals(samples: list[Sample], share: float = 0.3, seed: int = 0) -> list[Sample]:
    """Add a written refusal as a safe, refusing response to a share of the prompts: refusals
    are safe whatever was asked, and the refusal head needs positives."""
    rng = random.Random(seed)
    out = []
    for sample in samples:
        if not sample.responses and rng.random() < share:
            text = " ".join(
                [rng.choice(WRITTEN_REFUSALS), *rng.sample(REFUSAL_FOLLOW_UPS, rng.randint(0, 3))]
            )
            refusal = Response(text, is_safe=True, refusal=True, categories=[])
            sample = Sample(**{**sample.__dict__, "responses": [refusal]})
        out.append(sample)
    return out
