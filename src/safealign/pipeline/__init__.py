"""The main job: `safealign run` (stages, caching, the report) and `safealign demo`.

`pipeline` sits on top of every capability package (data, models, guard, train, steer,
evaluate) and below `cli`; nothing below it imports it.
"""

from safealign.pipeline.config import RunConfig, load_run_config
from safealign.pipeline.demo import DEMO_CONFIG, DemoConfig, demo_run_config
from safealign.pipeline.results import RunSummary
from safealign.pipeline.runner import run_pipeline

__all__ = [
    "DEMO_CONFIG",
    "DemoConfig",
    "RunConfig",
    "RunSummary",
    "demo_run_config",
    "load_run_config",
    "run_pipeline",
]
