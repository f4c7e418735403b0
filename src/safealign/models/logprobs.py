"""Log-probabilities of responses given prompts: the quantity every preference method needs.

Prompt and response are tokenized apart and concatenated (so the boundary never merges
tokens), right padded, and only response tokens count: prompt and padding are masked out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from safealign.models.chat import Conversation, render_prompt
from safealign.models.loading import LoadedModel


@dataclass
class TokenizedPair:
    """A prompt+response token sequence and which positions belong to the response."""

    input_ids: list[int]
    response_mask: list[int]
    truncated: bool = False


@dataclass
class SequenceLogProbs:
    """Per-sequence log-probs of the response tokens."""

    sum: Tensor
    mean: Tensor
    num_tokens: Tensor


def tokenize_prompt_response(
    tokenizer: PreTrainedTokenizerBase,
    conversation: Conversation,
    response: str,
    *,
    max_length: int | None = None,
    max_prompt_length: int | None = None,
    end_with_eos: bool = True,
    system_prompt: str | None = None,
) -> TokenizedPair:
    """Tokenize the templated prompt and the response (plus EOS) apart, then concatenate.

    Truncation keeps the end of the prompt (nearest the response) and the start of the response.
    """
    prompt_ids = tokenizer(
        render_prompt(tokenizer, conversation, system_prompt=system_prompt),
        add_special_tokens=False,
    )["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    if end_with_eos and tokenizer.eos_token_id is not None:
        response_ids = [*response_ids, tokenizer.eos_token_id]
    truncated = False
    if max_prompt_length is not None and len(prompt_ids) > max_prompt_length:
        prompt_ids, truncated = prompt_ids[-max_prompt_length:], True
    if max_length is not None and len(prompt_ids) + len(response_ids) > max_length:
        response_ids, truncated = response_ids[: max(max_length - len(prompt_ids), 1)], True
    return TokenizedPair(
        input_ids=prompt_ids + response_ids,
        response_mask=[0] * len(prompt_ids) + [1] * len(response_ids),
        truncated=truncated,
    )


def pad_right(sequences: Sequence[Sequence[int]], pad_value: int) -> Tensor:
    """Stack variable-length integer sequences into one right-padded [batch, width] tensor."""
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), pad_value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return out


def collate_pairs(pairs: Sequence[TokenizedPair], pad_id: int) -> dict[str, Tensor]:
    """Right-padded input_ids, attention_mask and response_mask for a batch of pairs."""
    return {
        "input_ids": pad_right([p.input_ids for p in pairs], pad_id),
        "attention_mask": pad_right([[1] * len(p.input_ids) for p in pairs], 0),
        "response_mask": pad_right([p.response_mask for p in pairs], 0),
    }


def masked_token_logprobs(logits: Tensor, input_ids: Tensor, response_mask: Tensor) -> Tensor:
    """Log-prob of each next token under `logits`, zero where the target is not a response token.

    Position t predicts token t+1, so the result has width-1 columns aligned with targets 1..T.
    """
    targets = input_ids[:, 1:]
    logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token_logps = logps.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return token_logps * response_mask[:, 1:].to(token_logps.dtype)


def batch_sequence_logprobs(
    model: PreTrainedModel, input_ids: Tensor, attention_mask: Tensor, response_mask: Tensor
) -> SequenceLogProbs:
    """One forward pass; sum and mean of response-token log-probs per row (keeps the graph)."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    token_logps = masked_token_logprobs(logits, input_ids, response_mask)
    counts = response_mask[:, 1:].sum(-1).to(token_logps.dtype)
    total = token_logps.sum(-1)
    return SequenceLogProbs(sum=total, mean=total / counts.clamp(min=1), num_tokens=counts)


@torch.inference_mode()
def sequence_logprobs(
    loaded: LoadedModel,
    conversations: Sequence[Conversation],
    responses: Sequence[str],
    *,
    batch_size: int = 8,
    end_with_eos: bool = True,
) -> SequenceLogProbs:
    """Log-probs of each response given its conversation, computed in batches (no gradients)."""
    if len(conversations) != len(responses):
        raise ValueError("conversations and responses must have the same length")
    pairs = [
        tokenize_prompt_response(loaded.tokenizer, c, r, end_with_eos=end_with_eos)
        for c, r in zip(conversations, responses, strict=True)
    ]
    pad_id = loaded.tokenizer.pad_token_id
    parts = []
    for start in range(0, len(pairs), batch_size):
        batch = {
            k: v.to(loaded.device)
            for k, v in collate_pairs(pairs[start : start + batch_size], pad_id).items()
        }
        parts.append(batch_sequence_logprobs(loaded.model, **batch))
    return SequenceLogProbs(
        sum=torch.cat([p.sum for p in parts]).cpu(),
        mean=torch.cat([p.mean for p in parts]).cpu(),
        num_tokens=torch.cat([p.num_tokens for p in parts]).cpu(),
    )


@torch.inference_mode()
def next_token_logits(
    loaded: LoadedModel, texts: Sequence[str], *, batch_size: int = 8
) -> list[Tensor]:
    """Float32 logits of the token after each fully rendered text, in input order.

    Texts are batched longest first with left padding (the last column is then every row's
    next token), and the model is asked for the last position's logits only: a full
    [batch, length, vocabulary] tensor would cost more than the forward pass itself.
    """
    tokenizer, model = loaded.tokenizer, loaded.model
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out: list[Tensor | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        encoded = [tokenizer(texts[i], add_special_tokens=False)["input_ids"] for i in chunk]
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids) :] = 1
        device = loaded.device
        inputs = {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
        try:
            logits = model(**inputs, logits_to_keep=1).logits[:, -1]
        except TypeError:  # architectures without logits_to_keep
            logits = model(**inputs).logits[:, -1]
        for row, index in enumerate(chunk):
            out[index] = logits[row].float()
    return [t for t in out if t is not None]
