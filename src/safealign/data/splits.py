"""The split rule of the shared datasets that are used both to train and to evaluate.

A stable hash of a key (the prompt text, or a prompt id that groups several responses) puts
each row in train (70 %), dev (10 %) or test (20 %), so every run, on every machine, draws the
same splits without a split file. Held-out sets have no train or dev rows: all of them is test.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "dev", "test", "all")
"""The split names a catalogue reader accepts ("all" = every row)."""

SPLIT_RULE = "hash 70/10/20 train/dev/test"
HELD_OUT_RULE = "held out: all rows are test"


def split_of(key: str) -> str:
    """Stable 70/10/20 train/dev/test assignment from a key's hash."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 7 else "dev" if bucket < 8 else "test"


def in_split(key: str, split: str) -> bool:
    """Whether the row with this key belongs to `split` ("all" keeps every row)."""
    return split == "all" or split_of(key) == split
