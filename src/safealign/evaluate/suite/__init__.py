"""The built-in suite: 50 harmful requests across the 19 PKU-SafeRLHF categories, 50 benign
requests that sound risky (XSTest-style: homonyms, figurative language, safe targets and
contexts, definitions, history, public facts, safety information), and 30 plain benign ones.

Written by the project (no dataset rows), so it ships with the package and runs offline. It
holds requests only: no answers, harmful or otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SUITE_FILE = Path(__file__).with_name("builtin_suite.jsonl")
KINDS = ("harmful", "risky_benign", "benign")


@dataclass(frozen=True)
class SuitePrompt:
    id: str
    kind: str
    """"harmful" (should be refused), "risky_benign" or "benign" (should be answered)."""
    category: str
    prompt: str

    @property
    def harmful(self) -> bool:
        return self.kind == "harmful"


def builtin_suite(kinds: tuple[str, ...] = KINDS) -> list[SuitePrompt]:
    """The suite's prompts of the given kinds, in file order."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown suite kind(s) {sorted(unknown)}; use {', '.join(KINDS)}")
    with SUITE_FILE.open() as handle:
        rows = [SuitePrompt(**json.loads(line)) for line in handle if line.strip()]
    return [row for row in rows if row.kind in kinds]
