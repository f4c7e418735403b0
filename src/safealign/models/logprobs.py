"""Log-probabilities of responses given prompts: the quantity every preference method needs.

Prompt and response are tokenized apart and concatenated (so the boundary never merges
tokens), and only response tokens count. Two layouts give the same numbers:
- padded (`collate_pairs` + `batch_sequence_logprobs`): one right-padded row per sequence,
  logits at every position, prompt and padding masked out afterwards;
- packed (`pack_sequences` + `packed_sequence_logprobs`): sequences with the same prompt share
  one row, the prompt once and each response after it (a block mask keeps responses from
  seeing each other, position ids restart after the prompt), and logits are computed only at
  the positions that predict a response token. For a preference pair this skips the second
  copy of the prompt, most padding, and the vocabulary projection of every prompt token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
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
    with short_row_attention(model, input_ids.shape[-1]):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    token_logps = masked_token_logprobs(logits, input_ids, response_mask)
    counts = response_mask[:, 1:].sum(-1).to(token_logps.dtype)
    total = token_logps.sum(-1)
    return SequenceLogProbs(sum=total, mean=total / counts.clamp(min=1), num_tokens=counts)


@dataclass
class PackedSequences:
    """Sequences laid out prompt-shared, one row per distinct prompt (see the module doc)."""

    input_ids: Tensor
    """[rows, width] token ids, right padded."""
    position_ids: Tensor
    """[rows, width]: 0.. along the prompt, then restarting after it for each response."""
    block_mask: Tensor
    """[rows, 1, width, width] bool, True where a query token may attend a key token."""
    logit_positions: Tensor
    """[rows, width] bool: positions whose next-token logits some target needs."""
    source: Tensor
    """[targets]: index of each target's logits among the True entries of logit_positions
    (row-major order, as transformers flattens a boolean `logits_to_keep`)."""
    targets: Tensor
    """[targets]: the response token each of those logits must predict."""
    sequence: Tensor
    """[targets]: which input sequence (in input order) the target belongs to."""
    num_sequences: Tensor
    """0-d: how many sequences were packed (some may have no response token)."""

    def as_dict(self) -> dict[str, Tensor]:
        return dict(vars(self))


def pack_sequences(sequences: Sequence[TokenizedPair], pad_id: int) -> PackedSequences:
    """Group sequences by identical prompt ids and lay each group out as prompt + responses.

    The prompt is the part before the first response token (at least one token, since the
    first token of a sequence is never predicted, as in the padded layout).
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    splits = []
    for index, pair in enumerate(sequences):
        split = max(_first_response_position(pair.response_mask), 1)
        splits.append(split)
        groups.setdefault(tuple(pair.input_ids[:split]), []).append(index)
    rows = []  # per row: token ids, position ids, owner (-1 prompt, else sequence index)
    for prompt, members in groups.items():
        ids, positions, owners = list(prompt), list(range(len(prompt))), [-1] * len(prompt)
        for index in members:
            response = sequences[index].input_ids[splits[index] :]
            ids += response
            positions += range(len(prompt), len(prompt) + len(response))
            owners += [index] * len(response)
        rows.append((ids, positions, owners, len(prompt), members))
    width = max(len(r[0]) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    owner = torch.full((len(rows), width), -2, dtype=torch.long)  # -2: padding
    keep = torch.zeros((len(rows), width), dtype=torch.bool)
    wanted: list[tuple[int, int, int, int]] = []  # (row, position, target token, sequence)
    for row, (ids, positions, owners, prompt_length, members) in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        position_ids[row, : len(ids)] = torch.tensor(positions, dtype=torch.long)
        owner[row, : len(ids)] = torch.tensor(owners, dtype=torch.long)
        start = prompt_length
        for index in members:
            length = len(sequences[index].input_ids) - splits[index]
            # The first response token is predicted by the last prompt token, the others by
            # the response token before them.
            previous = [prompt_length - 1, *range(start, start + length - 1)]
            for offset, position in enumerate(previous):
                wanted.append((row, position, ids[start + offset], index))
            start += length
    for row, position, _, _ in wanted:
        keep[row, position] = True
    rank = torch.cumsum(keep.flatten(), 0).view_as(keep) - 1
    index = torch.arange(width)
    causal = index[None, :] <= index[:, None]
    same_owner = (owner[:, None, :] == -1) | (owner[:, None, :] == owner[:, :, None])
    block_mask = causal[None] & same_owner & (owner[:, None, :] != -2)
    block_mask |= torch.eye(width, dtype=torch.bool)[None]  # padding sees itself: no NaN rows
    return PackedSequences(
        input_ids=input_ids,
        position_ids=position_ids,
        block_mask=block_mask.unsqueeze(1),
        logit_positions=keep,
        source=torch.tensor([int(rank[r, p]) for r, p, _, _ in wanted], dtype=torch.long),
        targets=torch.tensor([t for _, _, t, _ in wanted], dtype=torch.long),
        sequence=torch.tensor([s for _, _, _, s in wanted], dtype=torch.long),
        num_sequences=torch.tensor(len(sequences)),
    )


def collated_logprobs(model: PreTrainedModel, batch: dict[str, Tensor]) -> SequenceLogProbs:
    """Log-probs of a batch from `collate_pairs` (padded) or `pack_sequences(...).as_dict()`."""
    if "block_mask" in batch:
        return packed_sequence_logprobs(model, batch)
    return batch_sequence_logprobs(
        model, batch["input_ids"], batch["attention_mask"], batch["response_mask"]
    )


def packed_sequence_logprobs(
    model: PreTrainedModel, packed: PackedSequences | dict[str, Tensor]
) -> SequenceLogProbs:
    """One forward over packed sequences; response log-prob sums and means per input sequence
    (keeps the graph). `packed` may also be the dict of its fields (after a DataLoader)."""
    fields = packed if isinstance(packed, dict) else packed.as_dict()
    num_sequences = int(fields["num_sequences"])
    with short_row_attention(model, fields["input_ids"].shape[-1]):
        logits = model(
            input_ids=fields["input_ids"],
            position_ids=fields["position_ids"],
            attention_mask=_attention_mask(model, fields["block_mask"]),
            logits_to_keep=fields["logit_positions"],
        ).logits
    logits = logits.reshape(-1, logits.shape[-1])  # [kept positions, vocabulary]
    logps = torch.log_softmax(logits.float(), dim=-1)
    token_logps = logps[fields["source"], fields["targets"]]
    sequence = fields["sequence"]
    total = torch.zeros(num_sequences, dtype=token_logps.dtype, device=token_logps.device)
    total = total.index_add(0, sequence, token_logps)
    counts = torch.bincount(sequence, minlength=num_sequences).to(token_logps.dtype)
    return SequenceLogProbs(sum=total, mean=total / counts.clamp(min=1), num_tokens=counts)


MATH_ATTENTION_MAX_WIDTH = 176
"""Rows up to this many tokens take the plain (math) attention kernel on a CPU in bfloat16.

PyTorch's CPU flash-attention kernel has a fixed cost per call that dominates short rows in
bfloat16. Forward + backward of one layer (batch 2, 9 heads of 64, 2 threads, idle): 1.62 ms
flash against 1.00 ms math at 64 tokens, 3.43 / 2.34 at 128, 4.97 / 3.23 at 176, then flash wins
from 192 on (3.31 / 4.32); with one thread math wins up to 160 and flash at 192
(`benchmarks/cpu_attention.py`).
In float32 flash attention is faster at every width measured, so float32 keeps the default."""


def short_row_attention(model: nn.Module, width: int) -> contextlib.AbstractContextManager:
    """The math SDPA kernel for short bfloat16 rows on a CPU (see MATH_ATTENTION_MAX_WIDTH);
    a no-op everywhere else (GPUs, float32, long rows, non-SDPA attention)."""
    if width > MATH_ATTENTION_MAX_WIDTH or _attention_implementation(model) != "sdpa":
        return contextlib.nullcontext()
    weight = _input_embedding_weight(model)
    if weight is None or weight.device.type != "cpu" or weight.dtype != torch.bfloat16:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def _input_embedding_weight(model: nn.Module) -> Tensor | None:
    inner = getattr(model, "module", model)  # DistributedDataParallel wraps the model
    embeddings = getattr(inner, "get_input_embeddings", None)
    if embeddings is None:
        return None
    module = embeddings()
    return getattr(module, "weight", None)


def supports_packing(model: nn.Module) -> bool:
    """Packing needs a custom 4D mask, which the sdpa and eager attention paths accept."""
    return _attention_implementation(model) in ("sdpa", "eager")


def _attention_implementation(model: nn.Module) -> str | None:
    inner = getattr(model, "module", None)  # DistributedDataParallel wraps the model
    config = getattr(model, "config", None) or getattr(inner, "config", None)
    return getattr(config, "_attn_implementation", None)


def _attention_mask(model: nn.Module, block_mask: Tensor) -> Tensor:
    """SDPA takes the boolean mask; eager attention adds its mask to the scores, so it gets
    0 / most-negative floats in the model's dtype."""
    if _attention_implementation(model) != "eager":
        return block_mask
    dtype = next(model.parameters()).dtype
    additive = torch.zeros(block_mask.shape, dtype=dtype, device=block_mask.device)
    return additive.masked_fill(~block_mask, torch.finfo(dtype).min)


def _first_response_position(response_mask: Sequence[int]) -> int:
    for position, flag in enumerate(response_mask):
        if flag:
            if not all(response_mask[position:]):
                raise ValueError("a response mask must be zeros (prompt) then ones (response)")
            return position
    return len(response_mask)


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
