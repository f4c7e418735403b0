"""Batched generation: left padding, chat template applied and recorded, seeded sampling.

Prompts are sorted by length before batching so batches hold similar lengths (less padding),
and results are returned in the caller's order.

With a journal file, every finished batch is appended to it and Ctrl-C stops after the current
batch; a resumed call reads those batches back and generates only the rest, with the same batch
plan and seeds, so its outputs are those of an uninterrupted call.

Two backends give the same greedy tokens in float32: PyTorch (`model.generate`, which runs
forward hooks, adapters and any in-place change) and CTranslate2 (`ctranslate2_generation`,
faster on CPUs without native bf16, for plain checkpoints only). `backend="auto"` takes
CTranslate2 for greedy decoding of a float32 model it can serve as it is, and PyTorch otherwise
(bf16 models included), logging why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from safealign.interrupts import StoppedAt, StopRequest, stop_requests
from safealign.io import Journal
from safealign.models import ctranslate2_generation
from safealign.models.chat import Conversation, end_of_turn_ids, render_prompt
from safealign.models.loading import LoadedModel

BACKENDS = ("auto", "torch", "ctranslate2")
log = logging.getLogger(__name__)


@dataclass
class GenerationConfig:
    """Decoding settings; every saved generation records them."""

    max_new_tokens: int = 128
    """Tokens to generate at most per sample."""
    temperature: float = 0.0
    """0 means greedy decoding; above 0, sampling."""
    top_p: float = 1.0
    """Nucleus sampling mass (used only when sampling)."""
    num_samples: int = 1
    """Samples per prompt (greedy with num_samples > 1 repeats the same output)."""
    batch_size: int = 64
    """Prompts per forward pass; sequences sharing a batch are left padded. Decoding on a CPU is
    bound by per-step overhead, not arithmetic, so wide batches pay: 64 gives about twice the
    tokens/s of 16 (benchmarks/eval_speed.py). In float32 the tokens do not depend on the batch;
    in bf16 a different batch shape rounds differently and can flip near-tied greedy choices."""
    seed: int = 0
    """Seed for sampling; each batch reseeds from it so runs are reproducible."""
    system_prompt: str | None = None
    """Inserted as the first message when the conversation has no system turn."""
    sort_by_length: bool = True
    """Group prompts of similar length into the same batch to cut padding."""
    backend: str = "auto"
    """"torch" (transformers' generate: hooks, adapters, sampling), "ctranslate2" (fast CPU
    greedy decoding of plain checkpoints), or "auto": ctranslate2 for greedy decoding when
    installed and the model is a float32 checkpoint with no hooks, no unmerged adapter and a
    supported architecture, else torch (a bf16 model stays in torch: see `_dtype_mismatch`).
    Whenever ctranslate2 cannot serve a request, torch runs it and the log says why."""
    ctranslate2_compute_type: str = "float32"
    """CTranslate2 weights: "float32" gives the PyTorch path's tokens; "int8_float32" is faster
    still but changes some outputs (quantised weights), so it is never chosen by itself."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass
class Generation:
    """One generated continuation."""

    prompt_text: str
    """The exact text fed to the model (chat template applied, prefix included)."""
    output: str
    num_prompt_tokens: int
    num_new_tokens: int
    finish_reason: str
    """"stop" when an end-of-turn token ended it, "length" when max_new_tokens did."""
    sample_index: int = 0


def generate(
    loaded: LoadedModel,
    conversations: Sequence[Conversation],
    config: GenerationConfig | None = None,
    *,
    assistant_prefixes: Sequence[str | None] | None = None,
    progress: bool = True,
    journal: str | Path | None = None,
    resume: bool = False,
) -> list[list[Generation]]:
    """Generate `config.num_samples` continuations for each conversation, in input order.

    With `journal` (a file), finished batches are recorded there and Ctrl-C raises `StoppedAt`
    (a KeyboardInterrupt) after the current batch; with `resume`, batches the journal already holds
    for the same model, prompts and decoding are read back instead of generated.
    """
    config = config or GenerationConfig()
    if assistant_prefixes is not None and len(assistant_prefixes) != len(conversations):
        raise ValueError("assistant_prefixes must have one entry per conversation")
    tokenizer = loaded.tokenizer
    texts = [
        render_prompt(
            tokenizer,
            conversation,
            assistant_prefix=assistant_prefixes[i] if assistant_prefixes else None,
            system_prompt=config.system_prompt,
        )
        for i, conversation in enumerate(conversations)
    ]
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    order = list(range(len(texts)))
    if config.sort_by_length:
        order.sort(key=lambda i: len(encoded[i]), reverse=True)
    stop_ids = end_of_turn_ids(tokenizer)
    results: list[list[Generation]] = [[] for _ in texts]
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    fast = choose_backend(loaded, config) == "ctranslate2"
    record = None
    if journal is not None:
        fingerprint = generation_fingerprint(loaded.name, encoded, config, fast)
        record = Journal(journal, fingerprint, resume=resume)
    bar = tqdm(total=len(texts), desc="generating", unit="prompt", disable=not progress)
    waiting = stop_requests("batch") if record else contextlib.nullcontext(StopRequest())
    with waiting as stop, contextlib.closing(bar):  # closed also on Ctrl-C: its line ends
        for batch_number, batch in enumerate(batches):
            if record and all(index in record.done for index in batch):
                for index in batch:
                    results[index] = [
                        Generation(prompt_text=texts[index], **fields)
                        for fields in record.done[index]
                    ]
                bar.update(len(batch))
                continue
            prompts = [encoded[i] for i in batch]
            if fast:
                outputs = _generate_batch_ctranslate2(loaded, prompts, config, stop_ids)
            else:
                outputs = _generate_batch(
                    loaded, prompts, config, stop_ids, seed=config.seed + batch_number
                )
            for index, samples in zip(batch, outputs, strict=True):
                results[index] = [
                    Generation(
                        prompt_text=texts[index],
                        output=tokenizer.decode(new_ids, skip_special_tokens=True),
                        num_prompt_tokens=len(encoded[index]),
                        num_new_tokens=len(new_ids),
                        finish_reason=finish,
                        sample_index=sample_index,
                    )
                    for sample_index, (new_ids, finish) in enumerate(samples)
                ]
            bar.update(len(batch))
            if record:
                record.add({index: [_journal_fields(g) for g in results[index]] for index in batch})
                if stop.requested:
                    done = len(record.done)
                    raise StoppedAt(
                        f"prompt {done} of {len(texts)}", f"answers to {done} prompts in {journal}"
                    )
    return results


def generation_fingerprint(
    model: str, prompts: Sequence[Sequence[int]], config: GenerationConfig, fast: bool
) -> str:
    """A hash of what a batch's outputs depend on: model, prompt tokens, decoding, backend."""
    settings = {"model": model, "decoding": dataclasses.asdict(config), "ctranslate2": fast}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for prompt in prompts:
        digest.update(str(list(prompt)).encode())
    return digest.hexdigest()


def _journal_fields(generation: Generation) -> dict:
    """A generation as the journal keeps it (the prompt text is rebuilt, not stored)."""
    fields = dataclasses.asdict(generation)
    del fields["prompt_text"]
    return fields


def choose_backend(loaded: LoadedModel, config: GenerationConfig) -> str:
    """ "ctranslate2" or "torch" for this model and config (see GenerationConfig.backend)."""
    if config.backend == "torch":
        return "torch"
    reason = ctranslate2_generation.unavailable_reason(loaded)
    if reason is None and not config.greedy:
        reason = "sampling draws differ from transformers' sampler, so sampling stays in torch"
    if reason is None and config.backend == "auto":
        reason = _dtype_mismatch(loaded, config)
    if reason is None:
        return "ctranslate2"
    (log.warning if config.backend == "ctranslate2" else log.info)(
        "generating with torch, not ctranslate2: %s", reason
    )
    return "torch"


def _dtype_mismatch(loaded: LoadedModel, config: GenerationConfig) -> str | None:
    """Why "auto" keeps a reduced-precision model in torch, or None.

    CTranslate2 reproduces the torch path's greedy tokens only when both compute in the same
    precision. A bfloat16 model (dtype "auto" picks it where the CPU runs bf16 natively) would
    get other tokens from CTranslate2's float32, and on such CPUs torch's bf16 is also the
    faster of the two (benchmarks/generation.py: 0.5x for CTranslate2 on an AMX CPU).
    """
    dtype = next(loaded.model.parameters()).dtype
    if dtype == torch.float32:
        return None
    return (
        f"the model runs in {str(dtype).removeprefix('torch.')}; CTranslate2's "
        f"{config.ctranslate2_compute_type} would change its tokens (and torch's native "
        "reduced precision is the faster path on such CPUs)"
    )


def _generate_batch_ctranslate2(
    loaded: LoadedModel, prompts: list[list[int]], config: GenerationConfig, stop_ids: list[int]
) -> list[list[tuple[list[int], str]]]:
    new_tokens = ctranslate2_generation.generate_greedy(
        loaded,
        prompts,
        max_new_tokens=config.max_new_tokens,
        stop_ids=stop_ids,
        batch_size=config.batch_size,
        compute_type=config.ctranslate2_compute_type,
    )
    finished = [
        (tokens, "length" if len(tokens) >= config.max_new_tokens else "stop")
        for tokens in new_tokens
    ]
    return [[finish] * config.num_samples for finish in finished]


@torch.inference_mode()
def _generate_batch(
    loaded: LoadedModel,
    prompts: list[list[int]],
    config: GenerationConfig,
    stop_ids: list[int],
    seed: int,
) -> list[list[tuple[list[int], str]]]:
    tokenizer = loaded.tokenizer
    pad_id = tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):  # left padding: generated tokens line up on the right
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
        attention_mask[row, width - len(prompt) :] = 1
    sampling = {"do_sample": False}
    if not config.greedy:
        sampling = {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p}
        torch.manual_seed(seed)
    output = loaded.model.generate(
        input_ids=input_ids.to(loaded.device),
        attention_mask=attention_mask.to(loaded.device),
        max_new_tokens=config.max_new_tokens,
        num_return_sequences=config.num_samples,
        eos_token_id=stop_ids,
        pad_token_id=pad_id,
        top_k=None,
        **sampling,
    )
    new_tokens = output[:, width:].tolist()
    per_prompt: list[list[tuple[list[int], str]]] = []
    for row in range(len(prompts)):
        samples = []
        for sample in range(config.num_samples):
            tokens = new_tokens[row * config.num_samples + sample]
            samples.append(_cut_at_stop(tokens, stop_ids))
        per_prompt.append(samples)
    return per_prompt


def _cut_at_stop(tokens: list[int], stop_ids: list[int]) -> tuple[list[int], str]:
    for position, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:position], "stop"
    return tokens, "length"
