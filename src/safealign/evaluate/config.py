"""`EvalConfig`: everything `safealign eval run` needs; None fields fall back to the task's own."""

from __future__ import annotations

from dataclasses import dataclass, field

from safealign.evaluate.c2eval import K_VALUES


@dataclass
class EvalConfig:
    """Settings of one evaluation run (YAML section `eval`, CLI flags override)."""

    task: str = "suite"
    """Built-in task: suite, xstest, advbench, harmbench, beavertails, do-not-answer, dataset,
    jailbreak, c2eval, preference."""
    model: str = "embedded"
    """Model spec for the in-process backend ("embedded", a folder, a hub id), or the model name
    sent to the server when `backend_url` is set."""
    dtype: str = "auto"
    """bf16 where the hardware runs it natively, else float32."""
    backend_url: str | None = None
    """Base URL of an OpenAI-compatible server (http://HOST:PORT/v1); None runs in-process."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the server's API key (read only when set)."""
    judges: list[str] = field(default_factory=list)
    """Judge names; the first judge of each question gives the headline numbers. Empty: the
    task's defaults."""
    data_dir: str | None = None
    """Folder of the shared datasets; default $SAFEALIGN_SHARED_DATA or ../shared/data."""
    dataset: str | None = None
    """A prompt file for the `dataset`, `jailbreak` and `preference` tasks (any loader format)."""
    format: str | None = None
    """Loader format of `dataset` (detected from its columns when None)."""
    expect: str | None = None
    """For `dataset` rows without a harmful label: "refuse" or "comply"."""
    benign_dataset: str | None = None
    """Should-comply prompts run beside harmful-only sets, so over-refusal is always measured;
    default: the built-in suite's 80 benign prompts."""
    limit: int | None = None
    """Use only the first N prompts (pairs for c2eval/preference) of the main dataset."""
    benign_limit: int | None = None
    """Use only the first N benign companion prompts."""
    attacks: list[str] = field(
        default_factory=lambda: [
            "none",
            "prefix-injection",
            "refusal-suppression",
            "role-play",
            "few-shot",
            "base64",
            "prefilling",
        ]
    )
    """Jailbreak task: attacks to apply ("none" is the unattacked baseline)."""
    k_values: list[int] = field(default_factory=lambda: list(K_VALUES))
    """C2-Eval: prefix lengths in whitespace tokens of the harmful response."""
    max_new_tokens: int | None = None
    num_samples: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    batch_size: int = 16
    """Prompts per forward pass (generation and log-probs)."""
    seed: int = 0
    system_prompt: str | None = None
    out: str | None = None
    """Run directory; default runs/<task>-<model>-<time>."""
    resamples: int = 2000
    """Bootstrap resamples per confidence interval."""
    progress: bool = True
