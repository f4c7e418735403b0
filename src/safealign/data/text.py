"""Small text helpers shared by the loops that write or read assistant answers."""

from __future__ import annotations


def first_sentence(text: str) -> str:
    """`text` up to and including its first sentence end (".", "!", "?" or a line break).

    Small models asked to refuse or to correct course often drift back into complying after
    one sentence; keeping only the first sentence keeps the part that was asked for.
    """
    ends = [i for i in (text.find(c) for c in ".!?\n") if i >= 0]
    return text[: min(ends) + 1].rstrip() if ends else text.rstrip()
