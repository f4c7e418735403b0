"""Small text helpers shared by the loops that write or read assistant answers."""

from __future__ import annotations

REFUSAL_OPENINGS = (
    "I'm sorry, but I can't help with",
    "I can't assist with",
    "Sorry, I won't",
    "I must decline to",
    "I'm not able to provide",
    "As an AI assistant, I cannot",
)
"""Openings a model can be prefilled with to make it write a refusal (it finishes the sentence)."""


def first_sentence(text: str) -> str:
    """`text` up to and including its first sentence end (".", "!", "?" or a line break).

    Small models asked to refuse or to correct course often drift back into complying after
    one sentence; keeping only the first sentence keeps the part that was asked for.
    """
    ends = [i for i in (text.find(c) for c in ".!?\n") if i >= 0]
    return text[: min(ends) + 1].rstrip() if ends else text.rstrip()
