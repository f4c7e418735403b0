"""The stages that make variants: pair synthesis, training, steering.

Each calls the capability package's public function with the run's model, seed and folders,
and writes into its stage folder; a made variant is recorded in `variants.json` there as a
`VariantResult` without scores (the evaluation stage adds them).
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from safealign.data.catalog import load_dataset, require_trainable
from safealign.data.schema import Sample
from safealign.demo_data import align_prompts
from safealign.io import read_jsonl, write_json_atomic, write_jsonl_atomic
from safealign.models import LoadedModel
from safealign.pipeline.config import BASE, RunConfig, TrainRun
from safealign.pipeline.results import VariantResult
from safealign.train.pairs import read_samples
from safealign.train.synthesis import synthesize_redteam
from safealign.train.synthesis.run import run_course_correction
from safealign.train.trainer import train

VARIANTS_FILE = "variants.json"
PAIRS_FILE = "pairs.jsonl"


Settings = TypeVar("Settings")


def with_run_model(settings: Settings, config: RunConfig, **changes: Any) -> Settings:
    """A stage's verb settings bound to the run: its model, dtype and seed, plus `changes`."""
    return dataclasses.replace(
        settings, model=config.model, dtype=config.dtype, seed=config.seed, **changes
    )


def normalised(text: str) -> str:
    """How prompts are compared for overlap with evaluation sets (case and spacing ignored)."""
    return " ".join(text.lower().split())


# -- red-team and C2-Syn pairs -----------------------------------------------------------------


def redteam_stage(
    config: RunConfig, folder: Path, base: Callable[[], LoadedModel], eval_prompts: set[str]
) -> list[str]:
    """The model's own answers to training prompts, labelled and ranked into BFPO pairs."""
    section = config.redteam
    assert section is not None
    prompts, provenance = training_prompts(config, eval_prompts)
    synthesis = with_run_model(section.synthesis, config, output=str(folder / PAIRS_FILE))
    pairs = synthesize_redteam(prompts, base(), synthesis, progress=True)
    write_jsonl_atomic(folder / PAIRS_FILE, (p.to_dict() for p in pairs))
    provenance |= {
        "pairs": len(pairs),
        "pairs_with_unsafe_answer": sum(
            any(r.is_safe is False for r in p.responses) for p in pairs
        ),
    }
    write_json_atomic(folder / "prompts.json", provenance)
    return [PAIRS_FILE, "prompts.json"]


def training_prompts(config: RunConfig, eval_prompts: set[str]) -> tuple[list[Sample], dict]:
    """Harmful prompts and the benign helpfulness buffer, never from an evaluation set."""
    section = config.redteam
    assert section is not None
    if section.prompts == "builtin":
        prompts = align_prompts()
        if section.builtin_limit is not None:  # keep both kinds: harmful first, benign last
            half = section.builtin_limit // 2
            prompts = prompts[:half] + prompts[len(prompts) - (section.builtin_limit - half) :]
        kept = [p for p in prompts if normalised(p.prompt) not in eval_prompts]
        return kept, {
            "source": "built-in demo prompts",
            "harmful": sum(bool(p.prompt_harmful) for p in kept),
            "benign": sum(p.prompt_harmful is False for p in kept),
            "dropped_as_evaluation_prompts": len(prompts) - len(kept),
        }
    rng = random.Random(config.seed)
    chosen: list[Sample] = []
    provenance: dict = {"source": "shared data, train split"}
    for harmful, names, limit in (
        (True, section.harmful_sources, section.harmful_limit),
        (False, section.benign_sources, section.benign_limit),
    ):
        require_trainable(names, permissive_only=False)
        rows = [s for name in names for s in load_dataset(name, "train", config.data_dir)]
        excluded = [s for s in rows if s.source in section.exclude_sources]
        rows = [s for s in rows if s.source not in section.exclude_sources]
        overlap = [s for s in rows if normalised(s.prompt) in eval_prompts]
        rows = [s for s in rows if normalised(s.prompt) not in eval_prompts]
        if limit is not None and len(rows) > limit:
            rows = rng.sample(rows, limit)
        chosen += [
            Sample(
                prompt=s.prompt,
                context=list(s.context),
                prompt_harmful=harmful,
                prompt_categories=list(s.prompt_categories),
                id=s.id,
                source=s.source,
            )
            for s in rows
        ]
        kind = "harmful" if harmful else "benign"
        provenance[kind] = len(rows)
        provenance[f"{kind}_sources"] = names
        provenance[f"{kind}_dropped_from_excluded_sources"] = len(excluded)
        provenance[f"{kind}_dropped_as_evaluation_prompts"] = len(overlap)
    return chosen, provenance


def course_correction_stage(config: RunConfig, folder: Path) -> list[str]:
    """C2-Syn pairs (`safealign synth course-correction`) with the run's model and seed."""
    section = config.course_correction
    assert section is not None
    synthesis = with_run_model(section.synthesis, config, output=str(folder / PAIRS_FILE))
    result = run_course_correction(synthesis)
    write_json_atomic(folder / "prompts.json", {"prompts": result.prompts, "pairs": result.pairs})
    return [PAIRS_FILE, "prompts.json"]


# -- training ----------------------------------------------------------------------------------


def train_stage(config: RunConfig, folder: Path, pair_files: dict[str, Path]) -> list[str]:
    """Every train run in turn, each resuming from its own last checkpoint."""
    assert config.train is not None
    made = []
    for run in config.train.runs:
        made.append(train_one(config, run, folder / run.name, pair_files))
    write_json_atomic(folder / VARIANTS_FILE, [dataclasses.asdict(v) for v in made])
    return [VARIANTS_FILE, *(run.name for run in config.train.runs)]


def train_one(
    config: RunConfig, run: TrainRun, out: Path, pair_files: dict[str, Path]
) -> VariantResult:
    done = out / "done.json"
    if done.is_file():  # finished before an interruption of a later run
        return VariantResult(**json.loads(done.read_text()))
    samples = [Sample.from_dict(row) for name in run.pairs if name in pair_files
               for row in read_jsonl(pair_files[name])]  # fmt: skip
    if "data" in run.pairs:
        samples += read_samples(
            run.config.data,  # type: ignore[arg-type]
            run.config.data_format,
            split=run.config.data_split,
            limit=run.config.data_limit,
            column_map=run.config.data_column_map,
        )
    if run.helpfulness_data:
        samples += helpfulness_buffer(run)
    train_config = with_run_model(
        run.config,
        config,
        output_dir=str(out),
        resume=True,  # a re-run continues from the last checkpoint (exact, train/checkpoints)
        data=None,
    )
    started = time.process_time()
    result = train(train_config, samples=samples)
    adapter = result.adapter_dir or result.merged_dir
    method = train_config.objective
    if method == "preference":
        method = "+".join(train_config.loss.loss_weights())
    variant = VariantResult(
        name=run.name,
        kind="trained",
        description=f"{method} ({'full' if train_config.full_finetune else 'LoRA'}) on "
        f"{result.num_pairs} pairs ({', '.join(run.pairs)}"
        f"{', helpfulness buffer' if run.helpfulness_data else ''}), {result.steps} steps",
        model_path=str(adapter.resolve()) if adapter else None,
        cpu_seconds=round(time.process_time() - started, 1),
    )
    write_json_atomic(done, dataclasses.asdict(variant))
    return variant


def helpfulness_buffer(run: TrainRun) -> list[Sample]:
    """Preference rows of a helpfulness set, both answers marked safe (BFPO's buffer)."""
    rows = read_samples(
        run.helpfulness_data,  # type: ignore[arg-type]
        run.helpfulness_format,
        split=run.helpfulness_split,
        limit=run.helpfulness_limit,
        column_map=run.helpfulness_column_map,
    )
    buffer = []
    for sample in rows:
        if len(sample.responses) != 2:
            continue
        responses = [dataclasses.replace(r, is_safe=True) for r in sample.responses]
        better = sample.better if sample.better is not None else 0
        buffer.append(dataclasses.replace(sample, responses=responses, better=better, safer=None))
    return buffer


# -- steering ----------------------------------------------------------------------------------


def steer_stage(
    config: RunConfig,
    folder: Path,
    base: Callable[[], LoadedModel],
    trained: dict[str, str],
    redteam_pairs: Path | None = None,
) -> list[str]:
    """ICV and/or HDR variants of the base model and of named trained variants."""
    assert config.steer is not None
    targets = {BASE: config.model, **trained}
    made: list[VariantResult] = []
    if config.steer.icv is not None:
        made += icv_variants(config, folder / "icv", base, targets, redteam_pairs)
    if config.steer.hdr is not None:
        made += hdr_variants(config, folder / "hdr", targets)
    write_json_atomic(folder / VARIANTS_FILE, [dataclasses.asdict(v) for v in made])
    return [VARIANTS_FILE, *(p.name for p in folder.iterdir() if p.is_dir())]


def icv_variants(
    config: RunConfig,
    out: Path,
    base: Callable[[], LoadedModel],
    targets: dict[str, str],
    redteam_pairs: Path | None,
) -> list[VariantResult]:
    # heavy import deferred: steer registers its model-folder extension on import
    from safealign.steer.contrast import build_steering_vector
    from safealign.steer.harm_data import contrast_pairs
    from safealign.steer.model_folder import write_steered_model

    section = config.steer.icv  # type: ignore[union-attr]
    settings = section.vector
    vector_file = out / "icv.safetensors"
    started = time.process_time()
    pairs: list = []
    if not vector_file.is_file():
        if section.pairs == "redteam":
            assert redteam_pairs is not None
            pairs = redteam_contrast(redteam_pairs, settings.num_pairs, config.seed)
        else:
            pairs = contrast_pairs(
                settings.sources, settings.num_pairs, config.data_dir, config.seed
            )
        vector = build_steering_vector(
            base(),
            pairs,
            method=settings.method,
            last_k=settings.last_k,
            max_answer_tokens=settings.max_answer_tokens,
            batch_size=settings.batch_size,
            source="red-team pairs" if section.pairs == "redteam" else ", ".join(settings.sources),
        )
        vector.save(vector_file)
    seconds = time.process_time() - started
    made = []
    for target in section.apply_to:
        name = "icv" if target == BASE else f"{target}+icv"
        folder = write_steered_model(
            out / name, targets[target], vector_file, alpha=section.alpha, rule=section.rule
        )
        made.append(
            VariantResult(
                name=name,
                kind="steered",
                description=f"in-context safety vector ({settings.method}, "
                f"{len(pairs) or settings.num_pairs} {section.pairs} pairs), alpha "
                f"{section.alpha}, on {'the untouched model' if target == BASE else target}",
                model_path=str(folder.resolve()),
                cpu_seconds=round(seconds, 1),
            )
        )
    return made


def redteam_contrast(pairs_file: Path, limit: int, seed: int) -> list:
    """Contrast pairs from red-team pairs on harmful prompts with one safe, one unsafe answer
    (the unsafe one is the model's own generation; nothing here is written by us)."""
    from safealign.steer.contrast import ContrastPair  # steer: see icv_variants

    found = []
    for row in read_jsonl(pairs_file):
        sample = Sample.from_dict(row)
        flags = [r.is_safe for r in sample.responses]
        if sample.prompt_harmful and len(flags) == 2 and set(flags) == {True, False}:
            safe, unsafe = (0, 1) if flags[0] else (1, 0)
            found.append(
                ContrastPair(
                    sample.prompt,
                    unsafe_answer=sample.responses[unsafe].text,
                    safe_answer=sample.responses[safe].text,
                    source="redteam",
                )
            )
    unique = list({p.question: p for p in found}.values())  # one pair per prompt
    random.Random(seed).shuffle(unique)
    return unique[:limit]


def hdr_variants(config: RunConfig, out: Path, targets: dict[str, str]) -> list[VariantResult]:
    # heavy import deferred: steer registers its model-folder extension on import
    from safealign.steer.config import SafetyArithmeticConfig
    from safealign.steer.hdr import build_harm_vector, safety_arithmetic

    section = config.steer.hdr  # type: ignore[union-attr]
    harm_dir = out / "harm-vector"
    started = time.process_time()
    if not (harm_dir / "done.json").is_file():
        build_harm_vector(
            dataclasses.replace(
                section.harm_vector,
                model=config.model,
                output_dir=str(harm_dir),
                data_dir=config.data_dir,
                seed=config.seed,
            )
        )
        write_json_atomic(harm_dir / "done.json", {"done": True})
    made = []
    for target in section.apply_to:
        name = "hdr" if target == BASE else f"{target}+hdr"
        safety_arithmetic(
            SafetyArithmeticConfig(
                target=targets[target] if target == BASE else merged_folder(targets[target]),
                harm_vector=str(harm_dir),
                base=config.model,
                scale=section.scale,
                top_k=section.top_k,
                output=str(out / name),
            )
        )
        made.append(
            VariantResult(
                name=name,
                kind="edited",
                description=f"harm direction removal: {section.scale} x top "
                f"{section.top_k} of a {section.harm_vector.max_steps}-step harm fine-tune, "
                f"on {'the untouched model' if target == BASE else target}",
                model_path=str((out / name).resolve()),
                cpu_seconds=round(time.process_time() - started, 1),
            )
        )
    return made


def merged_folder(model_path: str) -> str:
    """A trained run's full weights: weight arithmetic cannot use the LoRA adapter/ the variant
    is recorded by, so it takes the merged model/ beside it (`merge: true`)."""
    path = Path(model_path)
    merged = path.parent / "model"
    if path.name == "adapter" and (merged / "config.json").is_file():
        return str(merged)
    return model_path


def made_variants(folder: Path) -> list[VariantResult]:
    """The variants a making stage recorded (without scores)."""
    path = folder / VARIANTS_FILE
    if not path.is_file():
        return []
    return [VariantResult.from_dict(row) for row in json.loads(path.read_text())]
