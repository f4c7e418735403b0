"""The main job: `safealign run` (stages, caching, the report) and `safealign demo`.

`pipeline` sits on top of every capability package (data, models, guard, train, steer,
evaluate) and below `cli`; nothing below it imports it.
"""

from safealign.pipeline.demo import (
    AlignSummary,
    DemoConfig,
    DemoReport,
    GuardSummary,
    run_demo,
)

__all__ = ["AlignSummary", "DemoConfig", "DemoReport", "GuardSummary", "run_demo"]
