"""The chat policy: a verdict plus a stage in, one action out (pure functions).

Rules are matched in order against the flagged categories (by name or taxonomy code) and the
verdict's severity; the first match decides. A verdict that is not flagged is allowed, or
annotated when the guard asks for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from safealign.guard import Verdict
from safealign.serve.config import PolicyConfig, PolicyRule
from safealign.taxonomy import load_taxonomy, normalize


@dataclass(frozen=True)
class Decision:
    """What the policy does with one verdict, and why."""

    action: str
    stage: str
    flagged: bool
    severity: int
    categories: list[str] = field(default_factory=list)
    needs_review: bool = False


def verdict_flagged(verdict: Verdict, stage: str) -> bool:
    """The stage's own question: the request for "input", the answer for "output"."""
    score = verdict.prompt_harmful if stage == "input" else verdict.response_harmful
    if score is None:
        score = verdict.response_harmful or verdict.prompt_harmful
    return bool(score is not None and score.label)


def verdict_severity(verdict: Verdict, flagged: bool) -> int:
    """The guard's severity; a flagged verdict from a guard without severity counts as minor."""
    if verdict.severity is not None:
        return max(int(verdict.severity), 1 if flagged else 0)
    return 1 if flagged else 0


def needs_review(verdict: Verdict) -> bool:
    """Read defensively: older guards have no review band."""
    return bool(getattr(verdict, "needs_review", None))


def decide(verdict: Verdict, stage: str, policy: PolicyConfig) -> Decision:
    flagged = verdict_flagged(verdict, stage)
    severity = verdict_severity(verdict, flagged)
    review = needs_review(verdict)
    categories = list(verdict.flagged_categories)
    if not flagged:
        action = policy.review_action if review else "allow"
        return Decision(action, stage, False, severity, categories, review)
    for rule in policy.rules:
        if _matches(rule, stage, severity, categories, verdict.taxonomy):
            action = rule.action
            if stage == "input" and action == "course_correct":
                action = "refuse"  # nothing has been said yet that could be corrected
            return Decision(action, stage, True, severity, categories, review)
    return Decision("allow", stage, True, severity, categories, review)


def _matches(
    rule: PolicyRule, stage: str, severity: int, categories: list[str], taxonomy: str | None
) -> bool:
    if rule.stage not in ("*", stage) or severity < rule.min_severity:
        return False
    if rule.category == "*":
        return True
    wanted = normalize(rule.category)
    return any(wanted in _category_keys(name, taxonomy) for name in categories)


def _category_keys(name: str, taxonomy: str | None) -> set[str]:
    keys = {normalize(name)}
    if taxonomy:
        try:
            category = load_taxonomy(taxonomy)[name]
        except Exception:  # a custom category outside the taxonomy matches by name only
            return keys
        keys.update(normalize(k) for k in (category.code, category.name))
    return keys


def annotation(decisions: list[Decision]) -> dict[str, Any]:
    """The `safealign` field of an annotated response."""
    return {
        d.stage: {
            "action": d.action,
            "flagged": d.flagged,
            "severity": d.severity,
            "categories": d.categories,
            "needs_review": d.needs_review,
        }
        for d in decisions
    }
