"""`TrainConfig`: every knob of `safealign train`, with defaults that run on the embedded model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from safealign.train.losses import LossConfig
from safealign.train.safe_rlhf.config import SafeRLHFConfig

OBJECTIVES = ("preference", "reward", "cost", "safe_rlhf")
PAIR_MODES = ("auto", "bfpo", "dpo", "chosen_rejected", "sft")
DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    """One training run: model, data, method, optimisation and outputs."""

    model: str = "embedded"
    """Model spec to start from: "embedded", a checkpoint folder or a hub id."""
    objective: str = "preference"
    """"preference" (DPO/IPO/BFPO/SFT via `loss`), "reward" or "cost" (a scalar head on the LM),
    or "safe_rlhf" (online PPO-Lagrangian with reward and cost models, settings in `safe_rlhf`)."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Which preference loss(es) and their hyperparameters (used when objective="preference")."""
    safe_rlhf: SafeRLHFConfig = field(default_factory=SafeRLHFConfig)
    """Reward/cost models, prompts, PPO and lambda settings (used when objective="safe_rlhf";
    there max_steps counts PPO iterations)."""

    data: str | None = None
    """Training data: a file in any format `safealign.data` reads, or safealign's Sample JSONL."""
    data_format: str | None = None
    """Format name for the loader (e.g. "pku-saferlhf", "hh-rlhf"); None guesses from the file."""
    data_split: str | None = None
    """Split to read, for sources that hold several."""
    data_limit: int | None = None
    """Read at most this many rows (handy for smoke runs)."""
    data_column_map: dict[str, str | list[str]] | None = None
    """Map safealign column names to the file's, e.g. {"prompt": "instruction"}."""
    pairs: str = "auto"
    """How samples become pairs: "bfpo" (by `better`, with safety flags), "dpo" (by `safer`),
    "chosen_rejected" (as the file orders them), "sft" (the safe response only); "auto" picks
    from the loss/objective (bfpo -> bfpo, sft -> sft, reward -> chosen_rejected,
    cost/dpo/ipo -> dpo)."""
    system_prompt: str | None = None
    """System message put before every training conversation (None: the template's default)."""
    max_length: int = 512
    """Tokens per prompt+response at most; longer responses are cut (and counted)."""
    max_prompt_length: int = 256
    """Prompt tokens at most; longer prompts keep their end (and are counted)."""

    full_finetune: bool = False
    """Train every weight (a frozen copy is the reference) instead of a LoRA adapter."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input; 0 keeps the policy forward deterministic."""
    lora_target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))
    """Module names that get adapters; the default is every attention and MLP projection
    (Llama/Mistral/Qwen naming). ["all-linear"] lets PEFT find them for other architectures."""

    learning_rate: float = 5e-5
    """Peak learning rate (after warmup, before the cosine decay)."""
    epochs: int = 1
    """Passes over the data (ignored when max_steps is set)."""
    max_steps: int | None = None
    """Optimizer steps to run; None runs `epochs` full passes."""
    batch_size: int = 2
    """Pairs per forward pass (per device)."""
    gradient_accumulation_steps: int = 4
    """Forward passes per optimizer step: the effective batch is batch_size x this x devices."""
    warmup_ratio: float = 0.1
    """Share of the steps with a linear warmup before the cosine decay."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float | None = 1.0
    """Gradient clipping norm (None: no clipping)."""
    dtype: str = "auto"
    """Compute dtype: "auto" is bf16 where the CPU/GPU runs it natively, else float32."""
    seed: int = 0
    """Seeds the data order, the adapter initialisation and any dropout."""
    shuffle: bool = True
    """Shuffle pairs every epoch (seeded, so a resumed run sees the same order)."""

    output_dir: str = "runs/train"
    """Where checkpoints, metrics, the plot and the adapter/model go."""
    save_every: int | None = 50
    """Write a resumable checkpoint every N optimizer steps (None: only at the end)."""
    keep_checkpoints: int = 2
    """How many of the newest checkpoints to keep on disk."""
    resume: bool = False
    """Continue from the newest checkpoint in output_dir (same config required)."""
    precompute_reference: bool = True
    """Compute reference log-probs once before training and cache them on disk; each step then
    needs only the policy forward. The reference is frozen (the base under a LoRA adapter, or a
    frozen copy), so this changes no number; false recomputes it every step."""
    packed: bool = True
    """Preference batches share each prompt between its responses in one packed row and take
    logits only where a response token is predicted (same log-probs, less compute); false pads
    every sequence to one width as before. Models whose attention takes no custom mask (e.g.
    flash-attention-2) fall back to padding by themselves."""
    fused_lora: bool = True
    """Run each LoRA linear as one fused op during training (scaling folded into B, adapter
    product accumulated into the base output): the same loss and gradients within float
    rounding, fewer passes over activations. With a bfloat16 base the adapter product runs in
    bfloat16 from float32 master weights, like TRL's bf16 autocast. Dropout, DoRA and other
    variants use PEFT's own forward either way; false always does."""
    reference_cache_dir: str | None = None
    """Folder for the cached reference log-probs (default: output_dir). Runs of a sweep over
    loss, learning rate or steps on the same model and pairs can share one folder."""
    merge: bool = False
    """Also write the adapter merged into the base weights (a plain checkpoint folder)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):
            self.loss = LossConfig(**self.loss)
        if isinstance(self.safe_rlhf, dict):
            self.safe_rlhf = SafeRLHFConfig(**self.safe_rlhf)
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}"
            )
        if self.pairs not in PAIR_MODES:
            raise ValueError(f"pairs must be one of {', '.join(PAIR_MODES)}, got {self.pairs!r}")
        for name in ("batch_size", "gradient_accumulation_steps", "epochs", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or null, got {self.max_steps}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must lie in [0, 1), got {self.warmup_ratio}")
        if self.max_prompt_length >= self.max_length:
            raise ValueError(
                f"max_prompt_length ({self.max_prompt_length}) must be below max_length "
                f"({self.max_length}), or no response token would fit."
            )

    @property
    def pair_mode(self) -> str:
        """The pair construction actually used (resolves "auto")."""
        if self.objective == "safe_rlhf":
            return "online"  # rollouts, no pairs
        if self.pairs != "auto":
            return self.pairs
        if self.objective == "reward":
            return "chosen_rejected"
        if self.objective == "cost":
            return "dpo"
        weights = self.loss.loss_weights()
        if "bfpo" in weights:
            return "bfpo"
        if set(weights) == {"sft"}:
            return "sft"
        return "dpo"

    @property
    def sft_only(self) -> bool:
        """Only the chosen responses matter: no rejected forward, no reference model."""
        return self.objective == "preference" and set(self.loss.loss_weights()) == {"sft"}

    def lora_config(self) -> Any:
        """The PEFT `LoraConfig` these settings describe (one place for the trainer and the
        PPO-Lagrangian loop)."""
        from peft import LoraConfig  # heavy import deferred: only training code needs PEFT

        targets = self.lora_target_modules
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=targets[0] if targets == ["all-linear"] else targets,
            task_type="CAUSAL_LM",
        )
