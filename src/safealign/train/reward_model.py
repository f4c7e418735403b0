"""Reward and cost models: a scalar head on a causal LM, read at the last real token.

Safe RLHF trains two of these: a reward model (Bradley-Terry on helpfulness) and a cost model
(cost > 0 means unsafe). Both are the same module; only the loss and the pair order differ, so
the preference trainer trains them too (`objective: reward` / `objective: cost`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from safealign.errors import ModelLoadError
from safealign.io import atomic_path
from safealign.models import load_model
from safealign.models.chat import Conversation
from safealign.models.loading import prepare_tokenizer
from safealign.models.logprobs import collate_pairs, tokenize_prompt_response

HEAD_FILE = "score_head.safetensors"
META_FILE = "scalar_model.json"


class ScalarHeadModel(nn.Module):
    """A causal LM's decoder plus a linear head giving one score per sequence.

    The score is read at the last non-padding token (inputs are right padded), which has seen
    the whole prompt and response. The LM may be a PEFT model: its adapters stay in the path.
    """

    def __init__(self, lm: PreTrainedModel | nn.Module, seed: int = 0) -> None:
        super().__init__()
        self.lm = lm
        hidden = lm.config.hidden_size
        self.score = nn.Linear(hidden, 1)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            nn.init.normal_(self.score.weight, std=1.0 / (hidden + 1) ** 0.5)
            nn.init.zeros_(self.score.bias)

    @property
    def config(self):
        return self.lm.config

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        hidden = decoder_of(self.lm)(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state
        last = attention_mask.sum(-1).clamp(min=1) - 1
        final = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return self.score(final.to(self.score.weight.dtype)).squeeze(-1)


def decoder_of(lm: nn.Module) -> nn.Module:
    """The transformer body (no LM head) of a causal LM, through a PEFT wrapper if any."""
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    if hasattr(base, "get_decoder"):
        decoder = base.get_decoder()
        if decoder is not None:
            return decoder
    if hasattr(base, "model"):
        return base.model
    raise ModelLoadError(f"cannot find the decoder of {type(base).__name__} for a scalar head.")


@dataclass
class ScalarModel:
    """A trained reward or cost model with its tokenizer, ready to score conversations."""

    module: ScalarHeadModel
    tokenizer: PreTrainedTokenizerBase
    kind: str
    """"reward" (higher = more helpful) or "cost" (above 0 = unsafe)."""

    @torch.inference_mode()
    def score(
        self,
        conversations: Sequence[Conversation],
        responses: Sequence[str],
        *,
        batch_size: int = 8,
        max_length: int = 512,
    ) -> Tensor:
        """One score per (conversation, response), in input order."""
        if len(conversations) != len(responses):
            raise ValueError("conversations and responses must have the same length")
        device = next(self.module.parameters()).device
        scores = []
        for start in range(0, len(responses), batch_size):
            tokens = [
                tokenize_prompt_response(self.tokenizer, c, r, max_length=max_length)
                for c, r in zip(
                    conversations[start : start + batch_size],
                    responses[start : start + batch_size],
                    strict=True,
                )
            ]
            batch = collate_pairs(tokens, self.tokenizer.pad_token_id)
            scores.append(
                self.module(
                    batch["input_ids"].to(device), batch["attention_mask"].to(device)
                ).float()
            )
        return torch.cat(scores).cpu() if scores else torch.zeros(0)


def save_scalar_model(
    module: ScalarHeadModel,
    tokenizer: PreTrainedTokenizerBase,
    path: str | Path,
    *,
    kind: str,
    base_model: str,
) -> Path:
    """Write the head, the LM (adapter only for PEFT) and the tokenizer to `path`, atomically."""
    with atomic_path(path) as staged:
        staged.mkdir()
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in module.score.state_dict().items()},
            str(staged / HEAD_FILE),
        )
        is_peft = hasattr(module.lm, "peft_config")
        module.lm.save_pretrained(staged / ("adapter" if is_peft else "model"))
        tokenizer.save_pretrained(staged / "tokenizer")
        meta = {"kind": kind, "base_model": base_model, "adapter": is_peft}
        (staged / META_FILE).write_text(json.dumps(meta, indent=2))
    return Path(path)


def load_scalar_model(
    path: str | Path, *, dtype: str = "float32", device: str | None = None
) -> ScalarModel:
    """Load what `save_scalar_model` wrote (the base model is loaded by its recorded spec)."""
    path = Path(path)
    if not (path / META_FILE).is_file():
        raise ModelLoadError(f"{path} is not a safealign reward/cost model (no {META_FILE}).")
    meta = json.loads((path / META_FILE).read_text())
    if meta["adapter"]:
        from peft import PeftModel  # heavy: only for adapters

        loaded = load_model(meta["base_model"], dtype=dtype, device=device)
        lm = PeftModel.from_pretrained(loaded.model, path / "adapter")
    else:
        loaded = load_model(path / "model", dtype=dtype, device=device)
        lm = loaded.model
    module = ScalarHeadModel(lm)
    module.score.load_state_dict(load_file(str(path / HEAD_FILE)))
    module.score.to(next(lm.parameters()).device)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(path / "tokenizer"))
    return ScalarModel(module=module.eval(), tokenizer=tokenizer, kind=meta["kind"])
