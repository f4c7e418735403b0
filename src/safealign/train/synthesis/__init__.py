"""Preference data made at run time: C2-Syn course-correction pairs and red-team BFPO pairs."""

from safealign.train.synthesis.course_correction import (
    CourseCorrectionConfig,
    course_correction_prefixes,
    harmful_responses,
    ranked_pairs,
    synthesize_course_correction,
)
from safealign.train.synthesis.redteam import (
    RedTeamConfig,
    redteam_pairs,
    synthesize_redteam,
)

__all__ = [
    "CourseCorrectionConfig",
    "RedTeamConfig",
    "course_correction_prefixes",
    "harmful_responses",
    "ranked_pairs",
    "redteam_pairs",
    "synthesize_course_correction",
    "synthesize_redteam",
]
