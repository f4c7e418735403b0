"""Reward and cost scorers for rollouts: a `safealign train` reward/cost model, or any
sequence-classification checkpoint with one output.

A scorer is just a callable `(conversations, responses) -> Tensor[N]`, so tests and library users
can pass their own (a judge, a rule) to `train_safe_rlhf`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from safealign.errors import ModelLoadError
from safealign.models.chat import Conversation
from safealign.models.logprobs import collate_pairs, tokenize_prompt_response
from safealign.train.reward_model import META_FILE, load_scalar_model

Scorer = Callable[[Sequence[Conversation], Sequence[str]], Tensor]


def load_scorer(
    spec: str | Path,
    kind: str,
    *,
    dtype: str = "float32",
    device: str | torch.device | None = None,
    batch_size: int = 16,
    max_length: int = 512,
) -> Scorer:
    """A scorer from a reward/cost run (`<run>/<kind>_model/` or that folder itself) or from a
    sequence-classification checkpoint (folder or hub id) whose single logit is the score."""
    path = Path(spec)
    for candidate in (path / f"{kind}_model", path):
        if (candidate / META_FILE).is_file():
            model = load_scalar_model(candidate, dtype=dtype, device=device)
            if model.kind != kind:
                raise ModelLoadError(
                    f"{candidate} is a {model.kind} model, but safe_rlhf.{kind}_model needs a "
                    f"{kind} model. Train one with `safealign train --config "
                    f"configs/train/{kind}.yaml`."
                )

            def score_scalar(conversations, responses, _model=model):
                return _model.score(
                    conversations, responses, batch_size=batch_size, max_length=max_length
                )

            return score_scalar
    return _sequence_classifier(spec, kind, dtype, device, batch_size, max_length)


def _sequence_classifier(spec, kind, dtype, device, batch_size, max_length) -> Scorer:
    # transformers' auto class and tokenizer loading are only needed for this branch.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from safealign.models.devices import default_device, resolve_dtype
    from safealign.models.loading import prepare_tokenizer

    device = torch.device(device) if device is not None else default_device()
    try:
        tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(str(spec)))
        model = AutoModelForSequenceClassification.from_pretrained(
            str(spec), dtype=resolve_dtype(dtype, device)
        ).to(device)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"safe_rlhf.{kind}_model {spec!r}: neither a safealign {kind} model (no {META_FILE}) "
            f"nor a loadable sequence-classification checkpoint ({exc}). Train one with "
            f"`safealign train --config configs/train/{kind}.yaml` and pass its output folder."
        ) from exc
    if model.config.num_labels != 1:
        raise ModelLoadError(
            f"safe_rlhf.{kind}_model {spec!r} has {model.config.num_labels} labels; a "
            f"{kind} model needs exactly one output (a scalar score)."
        )
    model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()

    @torch.inference_mode()
    def score(conversations, responses):
        scores = []
        for start in range(0, len(responses), batch_size):
            tokens = [
                tokenize_prompt_response(tokenizer, c, r, max_length=max_length)
                for c, r in zip(
                    conversations[start : start + batch_size],
                    responses[start : start + batch_size],
                    strict=True,
                )
            ]
            batch = collate_pairs(tokens, tokenizer.pad_token_id)
            logits = model(
                input_ids=batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
            ).logits
            scores.append(logits[:, 0].float().cpu())
        return torch.cat(scores) if scores else torch.zeros(0)

    return score
