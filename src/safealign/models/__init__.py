"""Model layer: loading (hub, local, embedded), chat rendering, generation, log-probs."""

from safealign.models.chat import as_messages, end_of_turn_ids, render_prompt
from safealign.models.devices import cpu_supports_bf16, resolve_dtype
from safealign.models.encoder import load_encoder
from safealign.models.generation import Generation, GenerationConfig, generate
from safealign.models.loading import LoadedModel, embedded_checkpoint, load_model
from safealign.models.logprobs import (
    SequenceLogProbs,
    batch_sequence_logprobs,
    collate_pairs,
    next_token_logits,
    sequence_logprobs,
    tokenize_prompt_response,
)
from safealign.models.tiny import tiny_model, tiny_tokenizer

__all__ = [
    "Generation",
    "GenerationConfig",
    "LoadedModel",
    "SequenceLogProbs",
    "as_messages",
    "batch_sequence_logprobs",
    "collate_pairs",
    "cpu_supports_bf16",
    "embedded_checkpoint",
    "end_of_turn_ids",
    "generate",
    "load_encoder",
    "load_model",
    "next_token_logits",
    "render_prompt",
    "resolve_dtype",
    "sequence_logprobs",
    "tiny_model",
    "tiny_tokenizer",
    "tokenize_prompt_response",
]
