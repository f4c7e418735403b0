"""A guard `Verdict` as an OpenAI moderation result, and as the wire form of /v1/guard/check.

OpenAI's category keys come from data: each category of the built-in `openai-moderation`
taxonomy names the coarse classes it maps onto, and the guard's own categories map onto the same
coarse classes. An OpenAI key's score is the guard's score for its coarse class (the lowest one
when a key needs two classes at once, as hate/threatening does); it is flagged when the guard
flagged every one of those classes. Two keys of OpenAI's newer set that the coarse classes
cover exactly are added (`illicit`, `illicit/violent`, `harassment/threatening`); keys the coarse
classes cannot tell apart (self-harm intent vs instructions) are left out rather than guessed.
"""

from __future__ import annotations

import functools
from typing import Any

from safealign.guard import Verdict
from safealign.serve.protocol import LabelScoreOut, ModerationResult, VerdictOut
from safealign.taxonomy import load_taxonomy, map_categories

OPENAI_TAXONOMY = "openai-moderation"
EXTRA_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    # key: (coarse classes, "any" = highest of them / "all" = lowest of them)
    "harassment/threatening": (("hate_harassment", "violence"), "all"),
    "illicit": (("crime", "cyber", "regulated_substances"), "any"),
    "illicit/violent": (("weapons",), "any"),
}


@functools.cache
def openai_key_map() -> dict[str, tuple[tuple[str, ...], str]]:
    """OpenAI category key -> (coarse classes, how to combine them)."""
    table: dict[str, tuple[tuple[str, ...], str]] = {}
    for category in load_taxonomy(OPENAI_TAXONOMY):
        table[category.code] = (tuple(category.coarse), "all")
    table.update(EXTRA_KEYS)
    return table


def coarse_view(verdict: Verdict) -> tuple[dict[str, float], set[str], dict[str, str]]:
    """Scores per coarse class (highest over the guard categories mapping onto it), the flagged
    coarse classes, and each guard category's taxonomy code."""
    scores: dict[str, float] = {}
    flagged: set[str] = set()
    codes: dict[str, str] = {}
    taxonomy = verdict.taxonomy
    for name, score in verdict.categories.items():
        code, coarse = _codes(name, taxonomy)
        codes[name] = code
        for c in coarse:
            scores[c] = max(scores.get(c, 0.0), float(score))
            if name in verdict.flagged_categories:
                flagged.add(c)
    return scores, flagged, codes


def moderation_result(verdict: Verdict) -> ModerationResult:
    scores, flagged_coarse, codes = coarse_view(verdict)
    categories: dict[str, bool] = {}
    category_scores: dict[str, float] = {}
    for key, (coarse, rule) in openai_key_map().items():
        values = [scores.get(c, 0.0) for c in coarse]
        hits = [c in flagged_coarse for c in coarse]
        combine_score, combine_hit = (min, all) if rule == "all" else (max, any)
        category_scores[key] = float(combine_score(values)) if values else 0.0
        categories[key] = bool(combine_hit(hits)) if hits else False
    judged = verdict.response_harmful or verdict.prompt_harmful
    review = getattr(verdict, "needs_review", None)
    return ModerationResult(
        flagged=bool(verdict.harmful),
        categories=categories,
        category_scores=category_scores,
        category_applied_input_types={k: ["text"] for k in categories},
        severity=verdict.severity,
        taxonomy=verdict.taxonomy,
        taxonomy_codes=[codes.get(n, n) for n in verdict.flagged_categories],
        taxonomy_scores={codes.get(n, n): float(s) for n, s in verdict.categories.items()},
        needs_review=None if review is None else bool(review),
        harmful_probability=None if judged is None else float(judged.probability),
    )


def verdict_record(verdict: Verdict) -> dict[str, Any]:
    """The verdict as the audit log stores it: the same fields as `Verdict.to_dict`, built
    without `dataclasses.asdict`'s deep copy (this runs once per request)."""
    record: dict[str, Any] = {}
    for key in ("prompt_harmful", "response_harmful", "refusal"):
        score = getattr(verdict, key)
        record[key] = (
            None if score is None else {"probability": score.probability, "label": score.label}
        )
    record.update(
        categories=dict(verdict.categories),
        flagged_categories=list(verdict.flagged_categories),
        severity=verdict.severity,
        parse_error=verdict.parse_error,
        taxonomy=verdict.taxonomy,
        needs_review=getattr(verdict, "needs_review", None),
    )
    return record


def verdict_out(verdict: Verdict) -> VerdictOut:
    """Every Verdict field, including ones newer guards add (read generically)."""
    data: dict[str, Any] = dict(verdict.to_dict())
    for key in ("prompt_harmful", "response_harmful", "refusal"):
        if data.get(key) is not None:
            data[key] = LabelScoreOut(**data[key])
    data["harmful"] = verdict.harmful
    data.setdefault("needs_review", None)
    return VerdictOut(**data)


@functools.cache
def _codes(name: str, taxonomy: str | None) -> tuple[str, tuple[str, ...]]:
    if not taxonomy:
        return name, ()
    try:
        category = load_taxonomy(taxonomy)[name]
        return category.code, tuple(map_categories([category.code], taxonomy))
    except Exception:  # categories given at inference (LLM guard) may be outside the taxonomy
        return name, ()
