"""From a synth config to a pairs file: read the source, load the model, synthesize, save.

While a verb runs, its answers are recorded batch by batch in a journal folder beside the output
(`redteam.jsonl` -> `redteam.journal/`). Ctrl-C stops after the current batch with
`RunInterrupted`, writing the config as run there too (what the resume command loads);
`--resume` reuses the recorded answers. The folder is removed once the output is written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from safealign.config import config_to_dict
from safealign.data.schema import Sample
from safealign.errors import ConfigError, DataError, RunInterrupted
from safealign.interrupts import resume_command
from safealign.io import Journal, write_json_atomic, write_jsonl_atomic
from safealign.models import load_model
from safealign.train.pairs import read_samples
from safealign.train.synthesis.course_correction import (
    NUM_CUTS,
    CourseCorrectionConfig,
    answer_harmful_prompts,
    harmful_responses,
    synthesize_course_correction,
)
from safealign.train.synthesis.redteam import REDTEAM_JOURNALS, RedTeamConfig, synthesize_redteam

COURSE_CORRECTION_JOURNALS = ("answers.jsonl", "continuations.jsonl")
"""Journal files of C2-Syn: the model's answers to prompt-only requests, then the continuations."""


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
    work = Path(config.output).with_suffix(".journal")
    answers, continuations = (work / name for name in COURSE_CORRECTION_JOURNALS)
    loaded = None
    asked: list[Sample] = []
    try:
        if (
            config.answer_prompt_only
            and prompt_only
            and (config.limit is None or len(items) < config.limit)
        ):
            loaded = load_model(config.model, dtype=config.dtype)
            wanted = None if config.limit is None else config.limit - len(items)
            # Ask for a few more than needed: answers that refuse or are too short are dropped.
            asked = prompt_only if wanted is None else prompt_only[: wanted + wanted // 4 + 1]
            items += answer_harmful_prompts(
                asked, loaded, config, progress=progress, journal=answers
            )
        items = items[: config.limit]
        if items:
            loaded = loaded or load_model(config.model, dtype=config.dtype)
            pairs = synthesize_course_correction(
                items, loaded, config, progress=progress, journal=continuations
            )
    except KeyboardInterrupt:
        stages = [("answers to prompt-only requests", answers, len(asked))] if asked else []
        stages.append(("continuations", continuations, len(items) * (NUM_CUTS + 1)))
        write_journal_config(work, config)
        raise interrupted_synthesis("synth course-correction", work, stages) from None
    if not items:
        shutil.rmtree(work, ignore_errors=True)
        raise DataError(
            f"no response labelled unsafe with at least {config.min_punctuation} punctuation "
            "marks.",
            path=config.data,
            fix="C2-Syn needs harmful responses: PKU-format pairs with is_response_*_safe, "
            "pairs ordered by `safer` (hh-rlhf), or harmful prompts alone with "
            "answer_prompt_only: true (the model answers them).",
        )
    write_jsonl_atomic(config.output, (p.to_dict() for p in pairs))
    shutil.rmtree(work, ignore_errors=True)
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
    work = Path(config.output).with_suffix(".journal")
    try:
        policy = load_model(config.model, dtype=config.dtype)
        pairs = synthesize_redteam(prompts, policy, config, progress=progress, journal_dir=work)
    except KeyboardInterrupt:
        passes = ("sampled answers", "guided safe answers")
        if not (config.safe_system_prompt or config.safe_prefix):
            passes = passes[:1]
        stages = [
            (name, work / file, len(prompts))
            for name, file in zip(passes, REDTEAM_JOURNALS, strict=False)
        ]
        write_journal_config(work, config)
        raise interrupted_synthesis("synth redteam", work, stages) from None
    write_jsonl_atomic(config.output, (p.to_dict() for p in pairs))
    shutil.rmtree(work, ignore_errors=True)
    return SynthesisResult(Path(config.output), len(prompts), len(pairs))


def write_journal_config(work: Path, config: CourseCorrectionConfig | RedTeamConfig) -> None:
    """The config as run, in the journal folder `work` (what the resume command loads)."""
    write_json_atomic(work / "config.json", config_to_dict(config) | {"resume": False})


def interrupted_synthesis(
    verb: str, work: Path, stages: list[tuple[str, Path, int]]
) -> RunInterrupted:
    """Where a synth verb stopped (the first unfinished generation pass), what its journals
    hold, and the command that resumes it."""
    counts = [(name, Journal.count(path), total) for name, path, total in stages]
    name, done, total = next((c for c in counts if c[1] < c[2]), counts[-1])
    held = [f"{d} {n}" for n, d, _ in counts if d]
    return RunInterrupted(
        stopped_at=f"{name}: {done} of {total}",
        saved=f"{', '.join(held) or 'nothing yet'} in {work}",
        resume=resume_command(verb, work / "config.json"),
    )


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
