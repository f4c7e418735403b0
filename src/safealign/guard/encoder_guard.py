"""The encoder guard: one encoder forward shared by all heads, calibrated, saved in a few MB.

Architecture: a sentence encoder (the embedded MiniLM by default, optionally adapted with LoRA)
reads (request, response) as a sentence pair. The pooled features are [mean of all tokens ;
mean of the response tokens], so one forward serves prompt harm, response harm, refusal,
multi-label categories and severity. Only the LoRA delta and the heads are saved (safetensors)
with a JSON config; the encoder itself is re-read from its spec, offline for the embedded one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from safealign.config import load_saved_config
from safealign.errors import ModelLoadError
from safealign.guard.calibration import in_band, mix_features, mix_logit
from safealign.guard.severity import rule_severity
from safealign.guard.text import request_text
from safealign.guard.verdict import (
    ConversationInput,
    LabelScore,
    Turns,
    Verdict,
    split_conversation,
)
from safealign.guard.windows import conversation_views, owners
from safealign.io import atomic_path
from safealign.models.devices import resolve_dtype
from safealign.models.encoder import resolve_encoder

BINARY_HEADS = ("prompt", "response", "refusal")
SEVERITY_LEVELS = 4
LORA_MODULES = (
    r"(attention\.self\.(query|key|value)|attention\.output\.dense"
    r"|intermediate\.dense|output\.dense)"
)
CONFIG_FILE = "guard_config.json"
WEIGHTS_FILE = "guard.safetensors"
SORT_CHUNK = 4096
"""Views tokenized and sorted by token count together when classifying (bounds the memory of
the padded token tensors on large inputs)."""


@dataclass
class EncoderGuardConfig:
    """Everything needed to rebuild a trained encoder guard (saved as guard_config.json)."""

    encoder: str = "embedded"
    """Encoder spec: "embedded" (all-MiniLM-L6-v2, offline), a folder, or a hub id."""
    categories: list[str] = field(default_factory=list)
    """Category names the category head scores, in taxonomy order."""
    taxonomy: str = "coarse"
    """Name of the taxonomy the categories come from."""
    max_length: int = 256
    """Tokens per (request, response) pair; longer pairs lose tokens from the longer side."""
    hidden_size: int = 256
    """Width of the shared layer between the pooled features and the heads."""
    lora_rank: int = 8
    """Rank of the LoRA adapters on the encoder; 0 keeps the encoder frozen."""
    lora_alpha: int = 16
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    lora_layers: int = 2
    """Adapt only the top this many encoder layers: the backward pass stops there (3x cheaper
    training on CPU); 0 adapts every layer."""
    finetune: str = "lora"
    """"lora" (adapters on the top `lora_layers`, or a frozen encoder at rank 0) or "full"
    (every encoder weight but the word embeddings trains; saved as a low-rank delta)."""
    full_layers: int = 0
    """Full fine-tuning: train only the top this many encoder layers (the backward pass stops
    there and only their change ships); 0 trains every weight but the word embeddings."""
    delta_rank: int = 64
    """Full fine-tuning: each weight matrix's change is saved as its best rank-`delta_rank`
    approximation (SVD) in fp16, so the shipped guard stays a few MB; 0 saves it whole."""
    opening_tokens: int = 0
    """Also pool the response's first this many tokens (where it refuses or complies); 0 = off
    (guards saved before this feature)."""
    severity: bool = False
    """Whether the severity head was trained (verdicts carry severity only then)."""
    temperatures: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BINARY_HEADS, 1.0))
    """Temperature per binary head, fitted on the dev split."""
    thresholds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BINARY_HEADS, 0.5))
    """Probability threshold per binary head for the harmful / refusal label."""
    category_thresholds: dict[str, float] = field(default_factory=dict)
    """Probability threshold per category (0.5 when absent)."""
    review_bands: dict[str, list[float]] = field(default_factory=dict)
    """Per binary head, the [low, high] probability band of verdicts marked `needs_review`
    (calibration.review_band on dev; none when absent)."""
    category_temperature: float = 1.0
    """One temperature shared by the category logits."""
    response_rule: str = "head"
    """How response harm is scored: "head" (the response head alone), "mix" (a calibrated,
    sign-constrained combination of the prompt, refusal and response logits and the product
    rule, fitted on dev: an answer is harmful when it complies with a harmful request), or
    "product" (P(prompt harmful) * (1 - P(refusal)), the fallback without enough dev positives)."""
    response_mix: dict[str, float] = field(default_factory=dict)
    """Weights and bias of the "mix" rule (calibration.MIX_FEATURES)."""
    training: dict = field(default_factory=dict)
    """Provenance: data mix, steps, dev metrics (informational)."""


class GuardHeads(nn.Module):
    """All task heads on one shared hidden layer over the pooled encoder features."""

    def __init__(self, feature_size: int, hidden_size: int, num_categories: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(feature_size, hidden_size), nn.GELU(), nn.Dropout(0.1))
        self.binary = nn.Linear(hidden_size, len(BINARY_HEADS))
        self.categories = nn.Linear(hidden_size, max(num_categories, 1))
        self.severity = nn.Linear(hidden_size, SEVERITY_LEVELS)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        hidden = self.trunk(features)
        return {
            "binary": self.binary(hidden),
            "categories": self.categories(hidden),
            "severity": self.severity(hidden),
        }


def pool_features(
    hidden: Tensor, attention_mask: Tensor, token_type_ids: Tensor, opening_tokens: int = 0
) -> Tensor:
    """[mean over all tokens ; mean over response tokens (; mean over the response's first
    `opening_tokens` tokens)], zeros where there is no response.

    The opening is where an answer refuses or complies; averaged over a long answer, a refusal
    followed by a lecture looks like any other text."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    in_response = token_type_ids * attention_mask
    response = in_response.unsqueeze(-1).to(hidden.dtype)
    mean_all = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    mean_response = (hidden * response).sum(1) / response.sum(1).clamp(min=1)
    parts = [mean_all, mean_response]
    if opening_tokens > 0:
        position = torch.cumsum(in_response, dim=1)
        opening = (in_response * (position <= opening_tokens)).unsqueeze(-1).to(hidden.dtype)
        parts.append((hidden * opening).sum(1) / opening.sum(1).clamp(min=1))
    return torch.cat(parts, dim=-1)


class EncoderGuard:
    """A calibrated multi-task guard over a sentence encoder; `classify` judges batches."""

    def __init__(
        self, encoder: nn.Module, tokenizer, heads: GuardHeads, config: EncoderGuardConfig
    ):
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.heads = heads
        self.config = config
        self.batch_size = 32
        self.max_padding = 0.2
        """A batch is cut short before its padding would exceed this share of its tokens
        (`padding_bounded_batches`)."""
        self.injections = True
        """Also score requests with moderator-addressed sentences removed (windows.py)."""

    # -- building, saving, loading ---------------------------------------------------------

    @classmethod
    def build(cls, config: EncoderGuardConfig) -> EncoderGuard:
        """A fresh, untrained guard (LoRA adapters attached when `lora_rank > 0`)."""
        encoder, tokenizer = load_guard_encoder(config.encoder)
        if config.finetune == "full":
            for name, param in encoder.named_parameters():
                param.requires_grad = _fully_tuned(name, config, encoder.config.num_hidden_layers)
        elif config.lora_rank > 0:
            encoder = _attach_lora(encoder, config)
        else:
            encoder.requires_grad_(False)
        parts = 3 if config.opening_tokens > 0 else 2
        heads = GuardHeads(
            parts * encoder.config.hidden_size, config.hidden_size, len(config.categories)
        )
        return cls(encoder, tokenizer, heads, config)

    def save(self, path: str | Path) -> Path:
        """Write guard_config.json and guard.safetensors (heads + LoRA delta) atomically."""
        tensors = {
            f"heads.{k}": v.detach().cpu().contiguous() for k, v in self.heads.state_dict().items()
        }
        if self.config.finetune == "full":
            base, _ = load_guard_encoder(self.config.encoder)
            tensors.update(encoder_delta(base, self.encoder, self.config.delta_rank))
        elif self.config.lora_rank > 0:
            from peft import get_peft_model_state_dict  # heavy: only with LoRA

            for key, value in get_peft_model_state_dict(self.encoder).items():
                tensors[f"lora.{key}"] = value.detach().cpu().contiguous()
        with atomic_path(path) as staged:
            staged.mkdir()
            save_file(tensors, str(staged / WEIGHTS_FILE))
            (staged / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, dtype: str | torch.dtype = "float32") -> EncoderGuard:
        """Rebuild a saved guard; LoRA is merged into the encoder, so inference costs no extra."""
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise ModelLoadError(
                f"{path} is not a saved encoder guard: it needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                "(written by `safealign guard train` or EncoderGuard.save)."
            )
        config = load_saved_config(EncoderGuardConfig, path / CONFIG_FILE)
        guard = cls.build(config)
        tensors = load_file(str(path / WEIGHTS_FILE))
        guard.heads.load_state_dict(
            {k[6:]: v for k, v in tensors.items() if k.startswith("heads.")}
        )
        if config.finetune == "full":
            apply_encoder_delta(guard.encoder, tensors)
        elif config.lora_rank > 0:
            from peft import set_peft_model_state_dict  # heavy: only with LoRA

            lora = {k[5:]: v for k, v in tensors.items() if k.startswith("lora.")}
            set_peft_model_state_dict(guard.encoder, lora)
            guard.encoder = guard.encoder.merge_and_unload()
        guard.to(dtype)
        return guard

    def to(self, dtype: str | torch.dtype) -> EncoderGuard:
        """Cast encoder and heads (bf16 is faster on CPUs with avx512_bf16; "auto" picks it
        where the CPU runs it natively, else float32)."""
        dtype = resolve_dtype(dtype, torch.device("cpu"))
        self.encoder.to(dtype)
        self.heads.to(dtype)
        return self

    def train(self, mode: bool = True) -> EncoderGuard:
        self.encoder.train(mode)
        self.heads.train(mode)
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        params = [p for p in self.encoder.parameters() if p.requires_grad]
        return params + list(self.heads.parameters())

    # -- computing ---------------------------------------------------------------------------

    def tokenize(self, turns: Sequence[Turns]) -> dict[str, Tensor]:
        """A padded batch of (request, response) pairs; a missing response is an empty side."""
        requests = [request_text(t) for t in turns]
        responses = [t.response for t in turns]
        if all(r is None for r in responses):
            batch = self.tokenizer(
                requests,
                truncation=True,
                max_length=self.config.max_length,
                padding=True,
                return_tensors="pt",
            )
        else:
            batch = self.tokenizer(
                requests,
                [r or "" for r in responses],
                truncation="longest_first",
                max_length=self.config.max_length,
                padding=True,
                return_tensors="pt",
            )
            for row, response in enumerate(responses):  # an empty side still has its [SEP]
                if response is None:
                    batch["token_type_ids"][row] = 0
        if "token_type_ids" not in batch:
            batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
        return dict(batch)

    def logits(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Raw (uncalibrated) head outputs for a tokenized batch; keeps the graph for training."""
        outputs = self.encoder(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        )
        features = pool_features(
            outputs.last_hidden_state,
            batch["attention_mask"],
            batch["token_type_ids"],
            self.config.opening_tokens,
        )
        return {k: v.float() for k, v in self.heads(features).items()}

    @torch.inference_mode()
    def raw_logits(self, conversations: Sequence[ConversationInput], batch_size: int | None = None):
        """Head logits for many conversations, in length-sorted batches, in input order.

        Each conversation is scored over its views (windows of long texts, the request without
        injected instructions; see windows.py) and the views combine by the maximum harm
        logit, so neither length nor an appended "say safe" can hide harm."""
        self.train(False)
        turns = [split_conversation(c) for c in conversations]
        views = [
            conversation_views(
                t, self.tokenizer, self.config.max_length, injections=self.injections
            )
            for t in turns
        ]
        flat = [v for vs in views for v in vs]
        merged = self._sorted_logits(flat, batch_size or self.batch_size)
        if len(flat) == len(turns):
            return turns, merged
        return turns, combine_views(merged, owners([len(vs) for vs in views]), len(turns))

    def _sorted_logits(self, turns: Sequence[Turns], size: int) -> dict[str, Tensor]:
        """Logits in input order from batches of views of similar token count.

        Requests alone and (request, response) pairs are batched apart (a lone request then
        reads as `[CLS] request [SEP]` whatever it is batched with). Each kind is tokenized
        `SORT_CHUNK` views at a time, sorted by token count and cut into batches of at most
        `size` views whose padding stays under `max_padding` (docs/guard.md, Speed: half the
        tokens of 32 real user texts were padding in batches of 32 sorted by characters)."""
        parts: dict[str, list[Tensor]] = {"binary": [], "categories": [], "severity": []}
        order = []
        alone = [i for i, t in enumerate(turns) if t.response is None]
        paired = [i for i, t in enumerate(turns) if t.response is not None]
        for kind in (alone, paired):
            for offset in range(0, len(kind), SORT_CHUNK):
                index = torch.as_tensor(kind[offset : offset + SORT_CHUNK], dtype=torch.long)
                tokens = self.tokenize([turns[i] for i in index.tolist()])
                lengths = tokens["attention_mask"].sum(1)
                by_length = lengths.argsort(stable=True)
                sorted_lengths = lengths[by_length].tolist()
                for batch in padding_bounded_batches(sorted_lengths, size, self.max_padding):
                    rows = by_length[batch.start : batch.stop]
                    width = sorted_lengths[batch.stop - 1]
                    out = self.logits(_trimmed(tokens, rows, width, self.tokenizer))
                    for key in parts:
                        parts[key].append(out[key])
                order.append(index[by_length])
        if not order:
            return {k: torch.empty(0) for k in parts}
        inverse = torch.empty(len(turns), dtype=torch.long)
        inverse[torch.cat(order)] = torch.arange(len(turns))
        return {k: torch.cat(v)[inverse] for k, v in parts.items()}

    def classify(
        self, conversations: Sequence[ConversationInput], batch_size: int | None = None
    ) -> list[Verdict]:
        """Judge each conversation: prompt harm always; response harm and refusal when the
        conversation ends with an assistant answer."""
        if not conversations:
            return []
        turns, logits = self.raw_logits(conversations, batch_size)
        probabilities = self.probabilities(logits)
        binary = {head: probabilities[head].tolist() for head in BINARY_HEADS}
        categories = probabilities["categories"].tolist()
        severity = (1 + logits["severity"][:, 1:].argmax(-1)).tolist()
        return [
            self._verdict(
                t,
                {head: binary[head][i] for head in BINARY_HEADS},
                categories[i],
                severity[i],
            )
            for i, t in enumerate(turns)
        ]

    def probabilities(self, logits: dict[str, Tensor]) -> dict[str, Tensor]:
        """Calibrated probabilities per binary head (response under the response rule) and per
        category, for a batch of raw logits."""
        cfg = self.config
        binary = logits["binary"].double()
        out = {
            head: torch.sigmoid(binary[:, i] / cfg.temperatures.get(head, 1.0))
            for i, head in enumerate(BINARY_HEADS)
        }
        if cfg.response_rule != "head":
            out["response"] = response_probability(binary, cfg)
        out["categories"] = torch.sigmoid(logits["categories"].double() / cfg.category_temperature)
        return out

    def _verdict(
        self,
        turns: Turns,
        probabilities: dict[str, float],
        category_probs: list[float],
        severity_head: int,
    ) -> Verdict:
        cfg = self.config
        scores = {
            head: LabelScore(p, p >= cfg.thresholds.get(head, 0.5))
            for head, p in probabilities.items()
        }
        category_scores = dict(zip(cfg.categories, category_probs, strict=False))
        has_response = turns.response is not None
        judged = "response" if has_response else "prompt"
        harmful = scores[judged].label
        flagged = [
            name
            for name, p in category_scores.items()
            if harmful and p >= cfg.category_thresholds.get(name, 0.5)
        ]
        if cfg.severity:
            level = severity_head if harmful else 0
        else:
            level = rule_severity(
                scores[judged].probability,
                cfg.thresholds.get(judged, 0.5),
                category_scores,
                flagged,
            )
        return Verdict(
            needs_review=in_band(scores[judged].probability, cfg.review_bands.get(judged)),
            prompt_harmful=scores["prompt"],
            response_harmful=scores["response"] if has_response else None,
            refusal=scores["refusal"] if has_response else None,
            categories=category_scores,
            flagged_categories=flagged,
            severity=level,
            taxonomy=cfg.taxonomy,
        )


def response_probability(binary: Tensor, config: EncoderGuardConfig) -> Tensor:
    """P(response harmful) for raw binary logits [n, 3] under the config's response rule."""
    t = config.temperatures
    z_p, z_s, z_r = (binary[:, i].double() for i in range(3))
    if config.response_rule == "mix":
        features = mix_features(z_p, z_r, z_s, t.get("prompt", 1.0), t.get("refusal", 1.0))
        return torch.sigmoid(mix_logit(features, config.response_mix))
    if config.response_rule == "product":
        return torch.sigmoid(z_p / t.get("prompt", 1.0)) * torch.sigmoid(
            -z_r / t.get("refusal", 1.0)
        )
    return torch.sigmoid(z_s / t.get("response", 1.0))


def combine_views(logits: dict[str, Tensor], owner: Sequence[int], count: int) -> dict[str, Tensor]:
    """One row per conversation from its views' rows: the maximum prompt-harm, response-harm
    and category logits; refusal and severity from the first view (the text's opening, where
    an answer refuses)."""
    index = torch.as_tensor(owner, dtype=torch.long)
    first = torch.full((count,), len(owner), dtype=torch.long).scatter_reduce(
        0, index, torch.arange(len(owner)), reduce="amin"
    )
    out = {}
    for key in ("binary", "categories"):
        values = logits[key]
        peak = torch.full((count, values.shape[1]), float("-inf"), dtype=values.dtype)
        peak = peak.scatter_reduce(0, index.unsqueeze(1).expand_as(values), values, reduce="amax")
        out[key] = peak
    out["binary"][:, 2] = logits["binary"][first, 2]
    out["severity"] = logits["severity"][first]
    return out


def encoder_delta(base: nn.Module, tuned: nn.Module, rank: int) -> dict[str, Tensor]:
    """The change fine-tuning made to each trainable encoder weight, in fp16: matrices as
    rank-`rank` factors (`delta.NAME.u` @ `delta.NAME.v`), vectors whole (`delta.NAME`).
    Frozen weights (`requires_grad` off: the word embeddings, layers below `full_layers`) are
    left out, so a guard that tunes its top layers ships only their change."""
    base_params = dict(base.named_parameters())
    out = {}
    for name, param in tuned.named_parameters():
        if "word_embeddings" in name or not param.requires_grad:
            continue
        diff = (param.detach().float() - base_params[name].detach().float()).cpu()
        if diff.ndim == 2 and rank > 0 and rank < min(diff.shape):
            u, s, vh = torch.linalg.svd(diff, full_matrices=False)
            out[f"delta.{name}.u"] = (u[:, :rank] * s[:rank]).half().contiguous()
            out[f"delta.{name}.v"] = vh[:rank].half().contiguous()
        else:
            out[f"delta.{name}"] = diff.half().contiguous()
    return out


@torch.no_grad()
def apply_encoder_delta(encoder: nn.Module, tensors: dict[str, Tensor]) -> None:
    """Add a saved `encoder_delta` to a freshly loaded encoder (in place)."""
    for name, param in encoder.named_parameters():
        if f"delta.{name}" in tensors:
            param.add_(tensors[f"delta.{name}"].to(param.dtype))
        elif f"delta.{name}.u" in tensors:
            u, v = tensors[f"delta.{name}.u"].float(), tensors[f"delta.{name}.v"].float()
            param.add_((u @ v).to(param.dtype))


def _fully_tuned(name: str, config: EncoderGuardConfig, num_layers: int) -> bool:
    """Whether full fine-tuning trains the encoder parameter `name`."""
    if "word_embeddings" in name:
        return False
    if config.full_layers <= 0:
        return True
    top = range(max(0, num_layers - config.full_layers), num_layers)
    return any(f"layer.{i}." in name for i in top)


def padding_bounded_batches(lengths: Sequence[int], size: int, max_padding: float) -> list[range]:
    """Consecutive batches over ascending `lengths`: at most `size` rows each, and a row joins
    a batch only while padding every row to the longest leaves at most `max_padding` of the
    batch's tokens as padding (one row always makes a batch). Small batches of similar rows
    run faster than full ones that are half padding."""
    batches, start = [], 0
    while start < len(lengths):
        stop, real = start + 1, lengths[start]
        while stop < len(lengths) and stop - start < size:
            padded = lengths[stop] * (stop - start + 1)
            if padded - (real + lengths[stop]) > max_padding * padded:
                break
            real += lengths[stop]
            stop += 1
        batches.append(range(start, stop))
        start = stop
    return batches


def _trimmed(tokens: dict[str, Tensor], rows: Tensor, width: int, tokenizer) -> dict[str, Tensor]:
    """The given rows of a padded batch, cut to `width` tokens (the padding side's end dropped):
    the same tensors tokenizing those rows alone gives."""
    if getattr(tokenizer, "padding_side", "right") == "left":
        return {k: v[rows, v.shape[1] - width :] for k, v in tokens.items()}
    return {k: v[rows, :width] for k, v in tokens.items()}


def load_guard_encoder(spec: str):
    """(encoder, tokenizer) for an encoder spec, without the sentence-transformers wrapper:
    the guard pools and trains the raw transformer."""
    hf_logging.set_verbosity_error()  # the MiniLM checkpoint's unused pooler is not news
    path = resolve_encoder(spec)
    try:
        try:
            encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler take no such argument
            encoder = AutoModel.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(
            f"Could not load encoder {spec!r} ({exc}). Use 'embedded' or a local encoder folder."
        ) from exc
    return encoder, tokenizer


def _attach_lora(encoder: nn.Module, config: EncoderGuardConfig) -> nn.Module:
    from peft import LoraConfig, get_peft_model  # heavy: only with LoRA

    total = encoder.config.num_hidden_layers
    layers = range(total - config.lora_layers, total) if config.lora_layers else range(total)
    pattern = rf".*layer\.({'|'.join(map(str, layers))})\.{LORA_MODULES}"
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.05,
        target_modules=pattern,
        bias="none",
    )
    return get_peft_model(encoder, lora)
