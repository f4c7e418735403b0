"""Configs of the `safealign steer` verbs: dataclasses with working defaults on the embedded
model, a help text per field (the CLI derives its options from them), loadable from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field

from safealign.steer.rules import RULES

CONTRAST_SOURCES = ["c2eval", "do-not-answer"]
HARM_SOURCES = ["c2eval", "do-not-answer", "hh-rlhf"]


def _help(default, text: str, **kwargs):
    """A field with a default and its help text (lists are copied per instance)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": text}, **kwargs)
    return field(default=default, metadata={"help": text}, **kwargs)


@dataclass
class IcvConfig:
    """`safealign steer icv`: build a steering vector from contrast pairs."""

    model: str = _help("embedded", 'Model to read activations from: "embedded", a folder or hub id.')
    sources: list[str] = _help(
        CONTRAST_SOURCES, "Shared datasets giving (question, unsafe answer, safe answer) pairs."
    )
    num_pairs: int = _help(32, "Contrast pairs to use (Safety Arithmetic used about 30).")
    method: str = _help(
        "icv", '"icv" (first principal direction of the differences) or "mean-difference".'
    )
    last_k: int = _help(4, "Read the mean of the answer's last k tokens (1: the last token).")
    max_answer_tokens: int = _help(64, "Answers are cut to this many tokens before reading.")
    batch_size: int = _help(8, "Demonstrations per forward pass.")
    data_dir: str | None = _help(None, "Shared data folder (default $SAFEALIGN_SHARED_DATA or ../shared/data).")
    seed: int = _help(0, "Seed for drawing the pairs.")
    dtype: str = _help("float32", "Dtype the model is loaded in.")
    output: str = _help("runs/steer/icv.safetensors", "Where the vector (.safetensors) is written.")

    def __post_init__(self) -> None:
        from safealign.steer.contrast import AGGREGATORS  # contrast imports models (heavier)

        if self.method not in AGGREGATORS:
            raise ValueError(f"method must be one of {', '.join(AGGREGATORS)}, got {self.method!r}")
        if self.last_k < 1 or self.num_pairs < 2:
            raise ValueError("last_k must be >= 1 and num_pairs >= 2")


@dataclass
class ApplyConfig:
    """`safealign steer apply`: write a steered model folder any verb can load."""

    model: str = _help("embedded", "The model to steer (recorded as the folder's base).")
    vector: str = _help("runs/steer/icv.safetensors", "Steering vector file (.safetensors).")
    alpha: float = _help(0.5, "Strength; negative steers the opposite way.")
    rule: str = _help("icv", f"How the vector is applied: {', '.join(RULES)}.")
    layers: list[int] | None = _help(None, "Layers to steer (default: every layer of the vector).")
    output: str = _help("runs/steer/steered", "Folder to write (safealign_model.json + vector).")

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}, got {self.rule!r}")


@dataclass
class HarmVectorConfig:
    """`safealign steer harm-vector`: fine-tune a copy on harmful QA (LoRA SFT); the adapter
    is the harm vector tau_H."""

    model: str = _help("embedded", "Base model the harm fine-tune starts from.")
    sources: list[str] = _help(HARM_SOURCES, "Shared datasets whose harmful answers are imitated.")
    num_examples: int = _help(240, "Harmful (question, answer) examples, drawn evenly per source.")
    data_dir: str | None = _help(None, "Shared data folder (default $SAFEALIGN_SHARED_DATA or ../shared/data).")
    seed: int = _help(0, "Seed for drawing examples and training.")
    learning_rate: float = _help(2e-4, "Peak learning rate of the harm fine-tune.")
    max_steps: int = _help(60, "Optimizer steps.")
    batch_size: int = _help(4, "Examples per forward pass.")
    gradient_accumulation_steps: int = _help(2, "Forward passes per optimizer step.")
    max_length: int = _help(256, "Tokens per question + answer at most.")
    lora_r: int = _help(16, "LoRA rank of the harm fine-tune.")
    lora_target_modules: list[str] | None = _help(
        None, "Modules that get adapters (default: every attention and MLP projection)."
    )
    dtype: str = _help("auto", "Training dtype (auto: bf16 where native, else float32).")
    output_dir: str = _help("runs/steer/harm-vector", "Folder for the examples and the adapter.")


@dataclass
class SafetyArithmeticConfig:
    """`safealign steer safety-arithmetic`: Harm Direction Removal on a target model
    (theta_target - lambda * top-k(tau_H)), optionally limited to an edit area, optionally with
    an in-context safety vector attached as well."""

    target: str = _help("embedded", "Model to make safer: \"embedded\", a checkpoint or run folder.")
    harm_vector: str = _help(
        "runs/steer/harm-vector",
        "The harm vector: a harm-vector or train output folder, a PEFT adapter, or a fully "
        "fine-tuned checkpoint (then `base` is its base).",
    )
    base: str = _help("embedded", "Base model of a full-weight harm vector (unused for adapters).")
    scale: float = _help(3.0, "lambda: how much of the harm vector is removed (paper: 2-3).")
    operation: str = _help("subtract", '"subtract" removes the harm direction; "add" adds it.')
    top_k: float | None = _help(0.1, "Keep this fraction of tau by magnitude (null: all).")
    top_k_scope: str = _help("global", '"global" (one threshold) or "tensor" (per tensor).')
    edit_area_from: str | None = _help(
        None, "An unedited model: limit the change to the layers where target differs from it."
    )
    edit_neighbours: int = _help(1, "Layers on each side of the edit area also changed.")
    icv: str | None = _help(None, "A steering vector to attach too (HDR + ICV).")
    icv_alpha: float = _help(0.5, "Strength of the attached steering vector.")
    icv_rule: str = _help("icv", f"Rule of the attached steering vector: {', '.join(RULES)}.")
    output: str = _help("runs/steer/safety-arithmetic", "Folder of the resulting checkpoint.")

    def __post_init__(self) -> None:
        if self.operation not in ("subtract", "add"):
            raise ValueError(f'operation must be "subtract" or "add", got {self.operation!r}')
        if self.top_k_scope not in ("global", "tensor"):
            raise ValueError(f'top_k_scope must be "global" or "tensor", got {self.top_k_scope!r}')
        if self.top_k is not None and not 0 < self.top_k <= 1:
            raise ValueError(f"top_k must lie in (0, 1] or be null, got {self.top_k}")
        if self.icv_rule not in RULES:
            raise ValueError(f"icv_rule must be one of {', '.join(RULES)}, got {self.icv_rule!r}")


@dataclass
class KnowledgeEditConfig:
    """`safealign steer knowledge-edit`: the edited-model scenario's edit, a small fine-tune on
    one benign NoIntentEdit instance, confined to one layer's MLP (so the edit area is known)."""

    model: str = _help("embedded", "Model to edit.")
    instance: int = _help(0, "Row of the NoIntentEdit sheet (0-based; 43 rows).")
    layer: int = _help(15, "Decoder layer whose MLP projections are edited.")
    steps: int = _help(20, "Optimizer steps on the single (question, answer) example.")
    learning_rate: float = _help(5e-4, "Learning rate of the edit.")
    data_dir: str | None = _help(None, "Shared data folder (default $SAFEALIGN_SHARED_DATA or ../shared/data).")
    output_dir: str = _help("runs/steer/knowledge-edit", "Folder of the edit run; the edited model is its model/.")
