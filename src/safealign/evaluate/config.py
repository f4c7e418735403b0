"""`EvalConfig`: the settings every task of `safealign eval run` shares.

Model, decoding, judges and output are common; what only one task reads (its limit, k values,
attacks, benign companions) lives in that task's settings class (safealign.evaluate.tasks) and
arrives here as `settings`. A YAML file writes both at the same level under `eval:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvalConfig:
    """Settings of one evaluation run (YAML section `eval`, CLI flags override)."""

    task: str = field(default="suite", metadata={"help": "Task to run (see `eval tasks`)."})
    model: str = field(
        default="embedded",
        metadata={
            "help": 'Model spec for the in-process backend ("embedded", a folder, a hub id), '
            "or the model name sent to the server when --backend-url is set."
        },
    )
    dtype: str = field(
        default="auto", metadata={"help": "bf16 where the hardware runs it natively, else float32."}
    )
    backend_url: str | None = field(
        default=None,
        metadata={
            "help": "OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1; unset runs "
            "in-process."
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Environment variable holding the server's API key (read if set)."},
    )
    judges: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Judge name (repeatable), e.g. refusal-keyword, harm-guard, refusal-model, "
            "jury:a,b,c; the first informative judge of each question gives the headline "
            "numbers (harm-llm on a small model is marked not informative). Empty: the "
            "task's defaults."
        },
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "Folder of the shared datasets; default $SAFEALIGN_SHARED_DATA or "
            "../shared/data."
        },
    )
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Answer length in tokens (default: the task's)."}
    )
    num_samples: int | None = field(
        default=None, metadata={"help": "Answers per prompt (default: the task's)."}
    )
    temperature: float | None = field(
        default=None, metadata={"help": "Sampling temperature; 0 is greedy (default: the task's)."}
    )
    top_p: float | None = field(
        default=None, metadata={"help": "Nucleus sampling mass (default: the task's)."}
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Prompts per forward pass (default: 64 when generating, 16 for log-probs)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seeds sampling and the bootstrap."})
    system_prompt: str | None = field(
        default=None, metadata={"help": "System message put before every prompt."}
    )
    out: str | None = field(
        default=None, metadata={"help": "Run directory; default runs/<task>-<model>-<time>."}
    )
    resamples: int = field(
        default=2000, metadata={"help": "Bootstrap resamples per confidence interval."}
    )
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})
    resume: bool = field(
        default=False,
        metadata={
            "help": "Reuse the answers the run directory (--out) already holds, from an "
            "interrupted or a finished run with the same model, prompts and decoding; generate "
            "only the rest, then judge."
        },
    )
    settings: Any = field(
        default=None,
        metadata={
            "help": "The task's own settings: an instance of its settings class, a mapping, "
            "or None for its defaults.",
            "cli": False,
        },
    )
