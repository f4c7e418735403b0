"""Severity levels 0-3, shared by every taxonomy (PKU-SafeRLHF's scale: 0 is safe).

Kept apart from categories because a severity applies to a response as a whole, whichever
taxonomy names its harms. The names match `safealign.data.schema.SEVERITY_NAMES` (a test checks
it); they are not imported from there so that `data` can import `taxonomy` without a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Severity(IntEnum):
    SAFE = 0
    MINOR = 1
    MODERATE = 2
    SEVERE = 3

    @property
    def label(self) -> str:
        return self.name.lower()


SEVERITY_NAMES: dict[int, str] = {int(level): level.label for level in Severity}


def parse_severity(value: int | str | Severity) -> Severity:
    """A level from 0-3, "2", or a name ("minor", "Severe"); ValueError names what is accepted."""
    if isinstance(value, bool):
        raise ValueError(f"severity must be 0-3 or one of {_names()}, got {value!r}")
    if isinstance(value, int) and value in SEVERITY_NAMES:
        return Severity(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit() and int(text) in SEVERITY_NAMES:
            return Severity(int(text))
        for level, name in SEVERITY_NAMES.items():
            if text == name:
                return Severity(level)
    raise ValueError(f"severity must be 0-3 or one of {_names()}, got {value!r}")


def severity_name(level: int | str | Severity) -> str:
    return parse_severity(level).label


def is_harmful(level: int | str | Severity) -> bool:
    """Any level above 0 means the response was judged to cause some harm."""
    return parse_severity(level) > Severity.SAFE


def max_severity(levels: Iterable[int | str | Severity | None]) -> Severity | None:
    """The worst level among those given (None entries ignored; None if there are none)."""
    parsed = [parse_severity(level) for level in levels if level is not None]
    return max(parsed) if parsed else None


def _names() -> str:
    return ", ".join(SEVERITY_NAMES.values())
