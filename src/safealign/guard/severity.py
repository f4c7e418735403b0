"""Severity 0-3 by rule, for guards trained without severity labels (the embedded default).

No permissively licensed shared set carries severity labels (PKU-SafeRLHF's are CC-BY-NC), so
the default guard derives severity from what it does predict: which harm it sees and how sure it
is. The rule, applied to the judged turn (the response when there is one, else the request):

1. not harmful (below the harm threshold) -> 0 (safe);
2. otherwise the tier of the worst flagged category (the best-scoring category when none passed
   its threshold; moderate when the guard scores no categories), with tiers
   severe = mass or irreversible physical harm and harm to children or oneself,
   moderate = crime, abuse and exposure of people, minor = everything else;
3. a borderline verdict (harm probability below the midpoint between the threshold and 1) is one
   level milder, never below minor.

A guard trained on labelled severity (EncoderGuardConfig.severity) uses its severity head instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from safealign.taxonomy import Severity

CATEGORY_SEVERITY: dict[str, Severity] = {
    "Weapons": Severity.SEVERE,
    "Child Safety": Severity.SEVERE,
    "Self-Harm": Severity.SEVERE,
    "Violence": Severity.SEVERE,
    "Crime": Severity.MODERATE,
    "Cyber": Severity.MODERATE,
    "Hate and Harassment": Severity.MODERATE,
    "Sexual": Severity.MODERATE,
    "Regulated Substances": Severity.MODERATE,
    "Privacy": Severity.MODERATE,
    "Deception": Severity.MINOR,
    "Specialized Advice": Severity.MINOR,
    "Intellectual Property": Severity.MINOR,
    "Other": Severity.MINOR,
}
"""Tier of each coarse category; categories of other taxonomies default to moderate."""


def rule_severity(
    harm_probability: float,
    threshold: float,
    categories: Mapping[str, float],
    flagged: Sequence[str] = (),
    tiers: Mapping[str, Severity] = CATEGORY_SEVERITY,
) -> int:
    """Severity of a judged turn from its harm probability and category scores (see module)."""
    if harm_probability < threshold:
        return int(Severity.SAFE)
    if flagged:
        level = max(tiers.get(name, Severity.MODERATE) for name in flagged)
    elif categories:
        level = tiers.get(max(categories, key=categories.__getitem__), Severity.MODERATE)
    else:
        level = Severity.MODERATE
    if harm_probability < (threshold + 1) / 2:
        level = max(Severity.MINOR, Severity(level - 1))
    return int(level)
