"""Severity levels 0-3 and their helpers."""

from __future__ import annotations

import pytest

from safealign.data.schema import SEVERITY_NAMES as SCHEMA_NAMES
from safealign.taxonomy import (
    SEVERITY_NAMES,
    Severity,
    is_harmful,
    max_severity,
    parse_severity,
    severity_name,
)


def test_names_match_the_sample_schema():
    assert SEVERITY_NAMES == SCHEMA_NAMES == {0: "safe", 1: "minor", 2: "moderate", 3: "severe"}


@pytest.mark.parametrize(
    ("value", "level"),
    [(0, Severity.SAFE), ("2", Severity.MODERATE), ("Severe", Severity.SEVERE), (" minor ", 1)],
)
def test_parse_severity(value, level):
    assert parse_severity(value) == level


@pytest.mark.parametrize("value", [4, -1, "critical", True, 1.5, None])
def test_parse_severity_rejects(value):
    with pytest.raises(ValueError, match="severity must be 0-3 or one of safe, minor"):
        parse_severity(value)


def test_helpers():
    assert severity_name(3) == "severe"
    assert not is_harmful("safe") and is_harmful(1)
    assert max_severity([1, None, "moderate", 0]) == Severity.MODERATE
    assert max_severity([None]) is None
