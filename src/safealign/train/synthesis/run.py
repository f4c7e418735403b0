"""From a synth config to a pairs file: read the source, load the model, synthesize, save."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safealign.data.schema import Sample
from safealign.errors import ConfigError, DataError
from safealign.io import write_jsonl_atomic
from safealign.models import load_model
from safealign.train.pairs import read_samples
from safealign.train.synthesis.course_correction import (
    CourseCorrectionConfig,
    answer_harmful_prompts,
    harmful_responses,
    synthesize_course_correction,
)
from safealign.train.synthesis.redteam import RedTeamConfig, synthesize_redteam


@dataclass
class SynthesisResult:
    output: Path
    prompts: int
    pairs: int


def run_course_correction(config: CourseCorrectionConfig, progress: bool = True) -> SynthesisResult:
    """Write C2-Syn pairs for every harmful (request, response) in `config.data`.

    Prompt-only items (harmful instructions without answers) are answered by the model first
    when `config.answer_prompt_only` is set.
    """
    if config.data is None:
        raise ConfigError("no source data: set `data` (harmful request + harmful response pairs).")
    samples = read_samples(
        config.data, config.data_format, split=config.data_split, column_map=config.column_map
    )
    items = harmful_responses(samples, config.min_punctuation)
    prompt_only = [s for s in samples if not s.responses]
    loaded = None
    if (
        config.answer_prompt_only
        and prompt_only
        and (config.limit is None or len(items) < config.limit)
    ):
        loaded = load_model(config.model, dtype=config.dtype)
        wanted = None if config.limit is None else config.limit - len(items)
        # Ask for a few more than needed: answers that refuse or are too short are dropped.
        asked = prompt_only if wanted is None else prompt_only[: wanted + wanted // 4 + 1]
        items += answer_harmful_prompts(asked, loaded, config, progress=progress)
    items = items[: config.limit]
    if not items:
        raise DataError(
            f"no response labelled unsafe with at least {config.min_punctuation} punctuation "
            "marks.",
            path=config.data,
            fix="C2-Syn needs harmful responses: PKU-format pairs with is_response_*_safe, "
            "pairs ordered by `safer` (hh-rlhf), or harmful prompts alone with "
            "answer_prompt_only: true (the model answers them).",
        )
    loaded = loaded or load_model(config.model, dtype=config.dtype)
    pairs = synthesize_course_correction(items, loaded, config, progress=progress)
    write_jsonl_atomic(config.output, (p.to_dict() for p in pairs))
    return SynthesisResult(Path(config.output), len(items), len(pairs))


def run_redteam(config: RedTeamConfig, progress: bool = True) -> SynthesisResult:
    """Write BFPO red-team pairs for the prompts in `config.data` (+ the helpfulness buffer)."""
    if config.data is None:
        raise ConfigError("no prompts: set `data` (harmful prompts).")
    prompts = read_samples(
        config.data,
        config.data_format,
        split=config.data_split,
        limit=config.limit,
        column_map=config.column_map,
    )
    prompts = [
        _with_harm(s, s.prompt_harmful if s.prompt_harmful is not None else True) for s in prompts
    ]
    if config.helpfulness_data:
        benign = read_samples(
            config.helpfulness_data,
            limit=config.helpfulness_limit,
            column_map=config.helpfulness_column_map,
        )
        prompts += [_with_harm(s, False) for s in benign]
    policy = load_model(config.model, dtype=config.dtype)
    pairs = synthesize_redteam(prompts, policy, config, progress=progress)
    write_jsonl_atomic(config.output, (p.to_dict() for p in pairs))
    return SynthesisResult(Path(config.output), len(prompts), len(pairs))


def _with_harm(sample: Sample, harmful: bool) -> Sample:
    """A prompt-only copy (answers are generated) with its harmfulness set."""
    return Sample(
        prompt=sample.prompt,
        context=list(sample.context),
        prompt_harmful=harmful,
        prompt_categories=list(sample.prompt_categories),
        id=sample.id,
        source=sample.source,
    )
