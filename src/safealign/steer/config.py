"""Configs of the `safealign steer` verbs: dataclasses with working defaults on the embedded
model, a help text per field (the CLI derives its options from them), loadable from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field

from safealign.steer.rules import RULES

CONTRAST_SOURCES = ["c2eval", "do-not-answer"]
HARM_SOURCES = ["c2eval", "do-not-answer", "hh-rlhf"]


@dataclass
class IcvConfig:
    """`safealign steer icv`: build a steering vector from contrast pairs."""

    model: str = field(
        default="embedded",
        metadata={"help": 'Model to read activations from: "embedded", a folder or hub id.'},
    )
    sources: list[str] = field(
        default_factory=lambda: list(CONTRAST_SOURCES),
        metadata={
            "help": "Shared datasets giving (question, unsafe answer, safe answer) pairs: "
            "c2eval, do-not-answer, alpaca-refusal (benign requests; refusing is the unsafe side)."
        },
    )
    num_pairs: int = field(
        default=32, metadata={"help": "Contrast pairs to use (Safety Arithmetic used about 30)."}
    )
    method: str = field(
        default="icv",
        metadata={
            "help": '"icv" (first principal direction of the differences) or "mean-difference".'
        },
    )
    last_k: int = field(
        default=4,
        metadata={"help": "Read the mean of the answer's last k tokens (1: the last token)."},
    )
    max_answer_tokens: int = field(
        default=8,
        metadata={"help": "Answers are cut to this many tokens before reading (their stance)."},
    )
    batch_size: int = field(default=8, metadata={"help": "Demonstrations per forward pass."})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Shared data folder (default $SAFEALIGN_SHARED_DATA or ../shared/data)."},
    )
    seed: int = field(default=0, metadata={"help": "Seed for drawing the pairs."})
    dtype: str = field(default="float32", metadata={"help": "Dtype the model is loaded in."})
    output: str = field(
        default="runs/steer/icv.safetensors",
        metadata={"help": "Where the vector (.safetensors) is written."},
    )

    def __post_init__(self) -> None:
        from safealign.steer.contrast import AGGREGATORS  # contrast imports models (heavier)

        if self.method not in AGGREGATORS:
            raise ValueError(f"method must be one of {', '.join(AGGREGATORS)}, got {self.method!r}")
        if self.last_k < 1 or self.num_pairs < 2:
            raise ValueError("last_k must be >= 1 and num_pairs >= 2")


@dataclass
class ApplyConfig:
    """`safealign steer apply`: write a steered model folder any verb can load."""

    model: str = field(
        default="embedded", metadata={"help": "The model to steer (recorded as the folder's base)."}
    )
    vector: str = field(
        default="runs/steer/icv.safetensors",
        metadata={"help": "Steering vector file (.safetensors)."},
    )
    alpha: float = field(
        default=0.1, metadata={"help": "Strength; negative steers the opposite way."}
    )
    rule: str = field(
        default="icv", metadata={"help": f"How the vector is applied: {', '.join(RULES)}."}
    )
    layers: list[int] | None = field(
        default=None, metadata={"help": "Layers to steer (default: every layer of the vector)."}
    )
    output: str = field(
        default="runs/steer/steered",
        metadata={"help": "Folder to write (safealign_model.json + vector)."},
    )

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}, got {self.rule!r}")


@dataclass
class HarmVectorConfig:
    """`safealign steer harm-vector`: fine-tune a copy on harmful QA (LoRA SFT); the adapter
    is the harm vector tau_H."""

    model: str = field(
        default="embedded", metadata={"help": "Base model the harm fine-tune starts from."}
    )
    sources: list[str] = field(
        default_factory=lambda: list(HARM_SOURCES),
        metadata={"help": "Shared datasets whose harmful answers are imitated."},
    )
    num_examples: int = field(
        default=240,
        metadata={"help": "Harmful (question, answer) examples, drawn evenly per source."},
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Shared data folder (default $SAFEALIGN_SHARED_DATA or ../shared/data)."},
    )
    seed: int = field(default=0, metadata={"help": "Seed for drawing examples and training."})
    learning_rate: float = field(
        default=2e-4, metadata={"help": "Peak learning rate of the harm fine-tune."}
    )
    max_steps: int = field(default=60, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=4, metadata={"help": "Examples per forward pass."})
    gradient_accumulation_steps: int = field(
        default=2, metadata={"help": "Forward passes per optimizer step."}
    )
    max_length: int = field(default=256, metadata={"help": "Tokens per question + answer at most."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank of the harm fine-tune."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Modules that get adapters (default: every attention and MLP projection)."
        },
    )
    dtype: str = field(
        default="auto", metadata={"help": "Training dtype (auto: bf16 where native, else float32)."}
    )
    output_dir: str = field(
        default="runs/steer/harm-vector",
        metadata={"help": "Folder for the examples and the adapter."},
    )


@dataclass
class SafetyArithmeticConfig:
    """`safealign steer safety-arithmetic`: Harm Direction Removal on a target model
    (theta_target - lambda * top-k(tau_H)), optionally limited to an edit area, optionally with
    an in-context safety vector attached as well."""

    target: str = field(
        default="embedded",
        metadata={"help": 'Model to make safer: "embedded", a checkpoint or run folder.'},
    )
    harm_vector: str = field(
        default="runs/steer/harm-vector",
        metadata={
            "help": "The harm vector: a harm-vector or train output folder, a PEFT "
            "adapter, or a fully fine-tuned checkpoint (then `base` is its base)."
        },
    )
    base: str = field(
        default="embedded",
        metadata={"help": "Base model of a full-weight harm vector (unused for adapters)."},
    )
    scale: float = field(
        default=3.0,
        metadata={"help": "lambda: how much of the harm vector is removed (paper: 2-3)."},
    )
    operation: str = field(
        default="subtract",
        metadata={"help": '"subtract" removes the harm direction; "add" adds it.'},
    )
    top_k: float | None = field(
        default=0.1, metadata={"help": "Keep this fraction of tau by magnitude (null: all)."}
    )
    top_k_scope: str = field(
        default="global", metadata={"help": '"global" (one threshold) or "tensor" (per tensor).'}
    )
    edit_area_from: str | None = field(
        default=None,
        metadata={
            "help": "An unedited model: limit the change to the layers where target "
            "differs from it."
        },
    )
    edit_neighbours: int = field(
        default=1, metadata={"help": "Layers on each side of the edit area also changed."}
    )
    icv: str | None = field(
        default=None, metadata={"help": "A steering vector to attach too (HDR + ICV)."}
    )
    icv_alpha: float = field(
        default=0.1, metadata={"help": "Strength of the attached steering vector."}
    )
    icv_rule: str = field(
        default="icv",
        metadata={"help": f"Rule of the attached steering vector: {', '.join(RULES)}."},
    )
    icv_layers: list[int] | None = field(
        default=None,
        metadata={"help": "Layers the attached vector steers (default: all of its layers)."},
    )
    output: str = field(
        default="runs/steer/safety-arithmetic",
        metadata={"help": "Folder of the resulting checkpoint."},
    )

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

    model: str = field(default="embedded", metadata={"help": "Model to edit."})
    instance: int = field(
        default=0, metadata={"help": "Row of the NoIntentEdit sheet (0-based; 43 rows)."}
    )
    layer: int = field(
        default=15, metadata={"help": "Decoder layer whose MLP projections are edited."}
    )
    steps: int = field(
        default=20, metadata={"help": "Optimizer steps on the single (question, answer) example."}
    )
    learning_rate: float = field(default=5e-4, metadata={"help": "Learning rate of the edit."})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Shared data folder (default $SAFEALIGN_SHARED_DATA or ../shared/data)."},
    )
    output_dir: str = field(
        default="runs/steer/knowledge-edit",
        metadata={"help": "Folder of the edit run; the edited model is its model/."},
    )
