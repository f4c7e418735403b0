"""Preference pairs from samples, and their token form for training.

PKU-format samples carry two preference labels, so one file feeds two methods: BFPO orders each
pair by helpfulness (`better`) and keeps both safety flags; DPO orders it by harmlessness
(`safer`). Sets that only say chosen/rejected keep their order; SFT keeps one response.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from safealign.data.loaders import load_samples
from safealign.data.reading import check_text_file, not_utf8
from safealign.data.schema import Message, Sample
from safealign.errors import DataError
from safealign.models.logprobs import TokenizedPair, tokenize_prompt_response


@dataclass
class PreferencePair:
    """A conversation, the preferred (`chosen`) and other (`rejected`) answer, safety flags."""

    conversation: list[Message]
    chosen: str
    rejected: str | None = None
    """None for SFT examples."""
    chosen_safe: bool | None = None
    rejected_safe: bool | None = None
    id: str | None = None


@dataclass
class TokenizedPreferencePair:
    """Token ids of prompt+chosen and prompt+rejected, with response masks."""

    chosen: TokenizedPair
    rejected: TokenizedPair | None
    chosen_safe: bool | None
    rejected_safe: bool | None
    index: int
    """Position in the training set (keys the cached reference log-probs)."""


@dataclass
class PairSet:
    """Tokenized pairs plus what the user should know about how they were built."""

    pairs: list[TokenizedPreferencePair]
    num_truncated: int = 0
    """Rows whose prompt or response was cut to fit max_prompt_length / max_length."""
    skipped: list[str] = field(default_factory=list)
    """Why some samples gave no pair (one line each)."""


def pairs_from_samples(
    samples: Sequence[Sample], mode: str
) -> tuple[list[PreferencePair], list[str]]:
    """Build pairs by `mode` ("bfpo", "dpo", "chosen_rejected", "sft"); also say what was skipped.

    A sample that cannot give a pair in this mode (one response where two are needed, no `better`
    label for BFPO...) is skipped with a reason rather than guessed.
    """
    builders = {
        "bfpo": _bfpo_pair,
        "dpo": _dpo_pair,
        "chosen_rejected": _chosen_rejected_pair,
        "sft": _sft_pair,
    }
    if mode not in builders:
        raise ValueError(f"pair mode must be one of {', '.join(builders)}, got {mode!r}")
    pairs, skipped = [], []
    for number, sample in enumerate(samples):
        pair_or_reason = builders[mode](sample)
        if isinstance(pair_or_reason, str):
            skipped.append(f"sample {sample.id or number}: {pair_or_reason}")
        else:
            pair_or_reason.id = sample.id or str(number)
            pairs.append(pair_or_reason)
    return pairs, skipped


def tokenize_pairs(
    pairs: Sequence[PreferencePair],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int,
    max_prompt_length: int,
    system_prompt: str | None = None,
) -> tuple[list[TokenizedPreferencePair], int]:
    """Apply the chat template, tokenize and truncate; return the pairs and how many were cut."""
    out, truncated = [], 0
    for index, pair in enumerate(pairs):
        sides = [pair.chosen] if pair.rejected is None else [pair.chosen, pair.rejected]
        tokens = [
            tokenize_prompt_response(
                tokenizer,
                pair.conversation,
                response,
                max_length=max_length,
                max_prompt_length=max_prompt_length,
                system_prompt=system_prompt,
            )
            for response in sides
        ]
        truncated += any(t.truncated for t in tokens)
        out.append(
            TokenizedPreferencePair(
                chosen=tokens[0],
                rejected=tokens[1] if len(tokens) > 1 else None,
                chosen_safe=pair.chosen_safe,
                rejected_safe=pair.rejected_safe,
                index=index,
            )
        )
    return out, truncated


def read_samples(
    path: str | Path,
    data_format: str | None = None,
    *,
    split: str | None = None,
    limit: int | None = None,
    column_map: dict[str, str | list[str]] | None = None,
) -> list[Sample]:
    """Samples from safealign's own Sample JSONL (what `safealign synth` writes), else through
    `safealign.data.load_samples` for every public format it knows."""
    path = Path(path)  # may also be a hub id, which load_samples resolves
    if data_format in (None, "safealign") and not column_map and _is_sample_jsonl(path):
        return _read_sample_jsonl(path, limit)
    result = load_samples(str(path), data_format, split=split, limit=limit, column_map=column_map)
    return list(result.samples)


def _bfpo_pair(sample: Sample) -> PreferencePair | str:
    if not sample.is_pair:
        return f"BFPO needs two responses, got {len(sample.responses)}"
    if sample.better is None:
        return "BFPO orders pairs by helpfulness, but `better` is missing"
    flags = [r.is_safe for r in sample.responses]
    if None in flags:
        return "BFPO needs a safety label (is_safe) on both responses"
    return _ordered(sample, sample.better)


def _dpo_pair(sample: Sample) -> PreferencePair | str:
    if not sample.is_pair:
        return f"DPO needs two responses, got {len(sample.responses)}"
    if sample.safer is None:
        return "DPO pairs are ordered by harmlessness, but `safer` is missing"
    return _ordered(sample, sample.safer)


def _chosen_rejected_pair(sample: Sample) -> PreferencePair | str:
    if not sample.is_pair:
        return f"a chosen/rejected pair needs two responses, got {len(sample.responses)}"
    first = sample.better if sample.better is not None else sample.safer
    return _ordered(sample, 0 if first is None else first)


def _sft_pair(sample: Sample) -> PreferencePair | str:
    if len(sample.responses) == 1:
        response = sample.responses[0]
        if response.is_safe is False:
            return "the only response is labelled unsafe"
        return PreferencePair(sample.conversation, response.text, chosen_safe=response.is_safe)
    if sample.is_pair and sample.safer is not None:
        response = sample.responses[sample.safer]
        if response.is_safe is False:
            return "even the safer response is labelled unsafe"
        return PreferencePair(sample.conversation, response.text, chosen_safe=response.is_safe)
    return "SFT needs one response, or two with `safer` set"


def _ordered(sample: Sample, chosen_index: int) -> PreferencePair:
    chosen, rejected = sample.responses[chosen_index], sample.responses[1 - chosen_index]
    return PreferencePair(
        conversation=sample.conversation,
        chosen=chosen.text,
        rejected=rejected.text,
        chosen_safe=chosen.is_safe,
        rejected_safe=rejected.is_safe,
    )


def _is_sample_jsonl(path: Path) -> bool:
    """Whether the first row is a safealign Sample (a file that is not text, or whose first
    line is not JSON, is left to `load_samples`, which names the problem)."""
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    check_text_file(path)
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    return isinstance(row, dict) and "responses" in row and "prompt" in row
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except json.JSONDecodeError:
        return False
    return False


def _read_sample_jsonl(path: Path, limit: int | None) -> list[Sample]:
    samples = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    samples.append(Sample.from_dict(json.loads(line)))
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise DataError(str(exc), path=path, line=number) from exc
                if limit is not None and len(samples) >= limit:
                    break
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    return samples
