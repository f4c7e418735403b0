"""`ServeConfig`: everything `safealign serve` needs, with defaults that give a working
moderation endpoint on the embedded guard, loadable from YAML (`configs/serve/*.yaml`).

Field help lives in `metadata={"help": ...}` so the CLI can derive its options from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safealign.config import config_from_dict, read_yaml_mapping
from safealign.errors import ConfigError

ACTIONS = ("allow", "annotate", "refuse", "course_correct")
STAGES = ("input", "output", "*")


def _help(text: str, default: Any = None) -> Any:
    """A dataclass field with an immutable default and a help string the CLI can show."""
    return field(default=default, metadata={"help": text})


@dataclass
class PolicyRule:
    """When a verdict matches (stage, category, severity), take `action`. First match wins."""

    action: str = "refuse"
    stage: str = "*"
    """"input" (the user's request), "output" (the model's answer) or "*" (both)."""
    category: str = "*"
    """A category name or taxonomy code of the guard ("Violence", "violence"), or "*"."""
    min_severity: int = 1
    """Applies from this severity up (1 minor, 2 moderate, 3 severe)."""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(
                f'policy rule action "{self.action}" is not one of {", ".join(ACTIONS)}.'
            )
        if self.stage not in STAGES:
            raise ConfigError(f'policy rule stage "{self.stage}" is not one of input, output, *.')
        if not 0 <= int(self.min_severity) <= 3:
            raise ConfigError(f"policy rule min_severity {self.min_severity} must be 0..3.")


def _default_rules() -> list[PolicyRule]:
    return [
        PolicyRule(action="refuse", stage="input", min_severity=1),
        PolicyRule(action="course_correct", stage="output", min_severity=1),
    ]


@dataclass
class PolicyConfig:
    """What the chat endpoint does with a flagged request or answer."""

    version: str = _help("Recorded with every audit row; bump it when the rules change.", "1")
    rules: list[PolicyRule] = field(
        default_factory=_default_rules,
        metadata={"help": "Ordered rules; the first that matches a flagged verdict decides."},
    )
    review_action: str = _help(
        'Action for a verdict the guard marks needs_review but does not flag: "allow" or '
        '"annotate".',
        "annotate",
    )
    refusal_message: str = _help(
        "The assistant message sent instead of an answer that is refused.",
        "I can't help with that request.",
    )
    correction_message: str = _help(
        "Appended where a course-corrected answer is cut.",
        "\n\nI need to stop here: continuing this answer could cause harm, so I won't go on.",
    )

    def __post_init__(self) -> None:
        self.rules = [r if isinstance(r, PolicyRule) else _rule(r) for r in self.rules]
        if self.review_action not in ("allow", "annotate"):
            raise ConfigError('policy.review_action must be "allow" or "annotate".')


def _rule(value: Any) -> PolicyRule:
    if not isinstance(value, dict):
        raise ConfigError(f"policy.rules entries must be mappings, got {value!r}.")
    return config_from_dict(PolicyRule, value, origin="policy.rules")


@dataclass
class ServeConfig:
    """The guardrail service: guard, chat backend, keys and limits, audit log."""

    host: str = _help("Interface to bind; 127.0.0.1 keeps the service local.", "127.0.0.1")
    port: int = _help("TCP port.", 8000)
    guard: str = _help('Guard spec: "embedded", a guard folder, or "llm:<model spec>".', "embedded")
    guard_dtype: str = _help(
        'Guard dtype: "auto" is bf16 where the CPU runs it natively (avx512_bf16/AMX: 266 vs '
        "196 req/s at p99 85 vs 102 ms in benchmarks/serve_load.py), else float32; "
        '"float32" gives scores identical to `guard eval`.',
        "auto",
    )
    guard_threads: int = _help(
        "Torch threads for the guard (0: leave as is). On a small box, one fewer than the cores "
        "leaves a core to the HTTP event loop.",
        0,
    )
    guard_model_name: str = _help(
        "The model name /v1/moderations answers to (OpenAI's names are accepted as aliases).",
        "safealign-guard",
    )
    upstream_url: str | None = _help(
        "Proxy mode: base URL of an OpenAI-compatible server (vLLM, TGI), e.g. "
        "http://127.0.0.1:8001/v1. Takes precedence over `model`.",
    )
    upstream_api_key: str | None = _help(
        "Key sent to the upstream (default: env SAFEALIGN_UPSTREAM_API_KEY)."
    )
    upstream_timeout_s: float = _help("Seconds to wait for the upstream before a 504.", 60.0)
    model: str | None = _help(
        'Local mode: a model spec for load_model ("embedded", a folder, a hub id, an adapter or '
        "steered folder). Neither this nor upstream_url: /v1/chat/completions is off.",
    )
    served_model_name: str | None = _help(
        "Model name clients use for chat (default: the local model spec). Proxy mode passes any "
        "name through when unset.",
    )
    max_new_tokens: int = _help("Local mode: default and upper bound of max_tokens.", 256)
    api_keys: list[str] = field(
        default_factory=list,
        metadata={
            "help": 'Accepted keys, plain or as "sha256:<hex>" hashes (only hashes are kept in '
            "memory). Also read from env SAFEALIGN_API_KEYS (comma-separated). None anywhere: "
            "open mode."
        },
    )
    api_keys_file: str | None = _help(
        "File with one key or sha256 hash per line, re-read when it changes: delete a line to "
        "revoke a key without a restart.",
    )
    rate_limit_per_minute: int = _help("Requests per minute per key (0 = unlimited).", 0)
    rate_limit_burst: int = _help("Requests a key may send at once before the rate applies.", 20)
    max_request_bytes: int = _help("Largest request body; bigger ones get 413.", 1_048_576)
    max_text_chars: int = _help("Longest single text field (input item, message).", 32_000)
    max_inputs: int = _help("Most items in one batch moderation or messages in one chat.", 128)
    guard_timeout_s: float = _help("Seconds to wait for a guard verdict.", 10.0)
    fail_mode: str = _help(
        '"closed" (default): no verdict in time means 503, or the stream ends with '
        'content_filter. "open": treat as unflagged and mark the audit row.',
        "closed",
    )
    batch_max_size: int = _help("Most guard items per batched guard call.", 32)
    batch_wait_ms: float = _help(
        "How long the first item of a batch waits for company before the guard runs.", 2.0
    )
    output_guard: bool = _help(
        "Check the model's answers (off: only requests are checked; for latency baselines).",
        True,
    )
    stream_window_tokens: int = _help(
        "Streaming output guard: tokens held back and checked together; the most a token is "
        "delayed.",
        16,
    )
    stream_context_chars: int = _help(
        "Streaming output guard: characters of already-sent answer the check also reads.", 600
    )
    audit_url: str | None = _help(
        "SQLAlchemy URL of the audit log: sqlite:///path.db (default: audit.db under "
        "SAFEALIGN_HOME/serve) or postgresql+psycopg://user@host/db.",
    )
    audit_enabled: bool = _help("Write one audit row per decision.", True)
    audit_texts: bool = _help(
        "Also store prompts and answers in the audit log (off: privacy).", False
    )
    cors_origins: list[str] = field(
        default_factory=list, metadata={"help": "Origins allowed by CORS; empty keeps CORS off."}
    )
    policy: PolicyConfig = field(
        default_factory=PolicyConfig, metadata={"help": "Chat policy per category and severity."}
    )

    def __post_init__(self) -> None:
        if isinstance(self.policy, dict):
            self.policy = config_from_dict(PolicyConfig, self.policy, origin="policy")
        if self.fail_mode not in ("closed", "open"):
            raise ConfigError(f'fail_mode must be "closed" or "open", got "{self.fail_mode}".')
        for name in ("max_request_bytes", "max_text_chars", "max_inputs", "batch_max_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1.")
        if self.stream_window_tokens < 1:
            raise ConfigError("stream_window_tokens must be at least 1.")

    @property
    def chat_mode(self) -> str:
        """ "proxy", "local" or "off"."""
        if self.upstream_url:
            return "proxy"
        return "local" if self.model else "off"


def load_serve_config(path: str | Path | None = None, **overrides: Any) -> ServeConfig:
    """Defaults <- YAML (its `serve:` section when present) <- non-None overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(read_yaml_mapping(path, "serve"))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(ServeConfig, values, origin=str(path) if path else "serve")
