"""`safealign run`: the stages a config asks for, cached, resumable, then the summary and report.

Stages, in order (each only when its section is present):

    baseline           the untouched model and the same model under a safety system prompt
    redteam            the model's own answers to training prompts -> BFPO pairs
    course_correction  C2-Syn pairs
    train              one variant per train run (resumes from its last checkpoint)
    steer              ICV and/or HDR variants of the base or a trained model
    evaluate           every made variant on the baseline's tasks
    guard_eval         the guard on labelled sets (PR curves)

then the summary (`summary.json`) and the report, rebuilt from the stage folders every time.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import platform
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from safealign.config import config_to_dict
from safealign.errors import RunInterrupted
from safealign.io import atomic_path, write_json_atomic
from safealign.models import LoadedModel, load_model
from safealign.pipeline.config import RunConfig, section_dict
from safealign.pipeline.evaluation import evaluate_variant, evaluation_prompts
from safealign.pipeline.making import (
    PAIRS_FILE,
    VARIANTS_FILE,
    course_correction_stage,
    made_variants,
    redteam_stage,
    steer_stage,
    train_stage,
)
from safealign.pipeline.results import GuardCurve, RunSummary, StageRecord, VariantResult
from safealign.pipeline.stages import (
    Stage,
    check_forced,
    clear_folder,
    plan,
    stage_folder,
    write_record,
)
from safealign.pipeline.summary import (
    SYSTEM_PROMPT,
    UNTOUCHED,
    best_variant,
    check_targets,
    run_warnings,
    training_curve,
)

SUMMARY_FILE = "summary.json"
BEST_MODEL = "best_model"
Notify = Callable[[str], None]


def run_pipeline(
    config: RunConfig,
    *,
    force: list[str] | None = None,
    resume_command: str = "safealign run CONFIG",
    notify: Notify | None = None,
) -> RunSummary:
    """Run (or resume) every stage the config names and write summary.json and the report.

    Ctrl-C inside a stage raises `RunInterrupted` naming the stage, what is saved and
    `resume_command`.
    """
    say = notify or (lambda line: None)
    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = _now()
    base = _base_loader(config)
    stages = build_stages(config, run_dir, base)
    forced = check_forced(force or [], stages)
    records: list[StageRecord] = []
    steps = plan(run_dir, stages, forced)
    for number, (stage, digest, run, fresh) in enumerate(steps, start=1):
        header = f"[{number}/{len(steps)}] {stage.name}"
        if not run:
            record = _cached(run_dir, stage.name, digest)
            records.append(record)
            say(f"{header}: cached (config {digest}), {record.seconds:.0f} s when it ran")
            continue
        folder = clear_folder(run_dir, stage.name) if fresh else stage_folder(run_dir, stage.name)
        folder.mkdir(parents=True, exist_ok=True)
        say(f"{header}: {'running' if fresh else 'resuming'} (config {digest})")
        records.append(_run_stage(run_dir, stage, digest, folder, resume_command))
        say(f"{header}: done in {records[-1].seconds:.0f} s")
    summary = build_summary(config, run_dir, records, started)
    outputs = write_summary_and_report(summary, run_dir)
    say("report: " + ", ".join(str(p) for p in outputs))
    return summary


def build_stages(config: RunConfig, run_dir: Path, base: Callable[[], LoadedModel]) -> list[Stage]:
    """The stages this config runs, in order, with their inputs and dependencies."""
    common = {"model": config.model, "dtype": config.dtype, "seed": config.seed}
    evaluation = section_dict(config.evaluation)
    stages: list[Stage] = []
    if config.evaluation is not None:
        stages.append(
            Stage(
                "baseline",
                {**common, "data_dir": config.data_dir, "evaluation": evaluation},
                lambda folder: baseline_stage(config, folder, base),
                saves="the evaluation tasks finished so far",
            )
        )
    if config.redteam is not None:
        stages.append(
            Stage(
                "redteam",
                {
                    **common,
                    "data_dir": config.data_dir,
                    "redteam": section_dict(config.redteam),
                    # training prompts equal to an evaluation prompt are dropped
                    "evaluation_tasks": evaluation["tasks"] if evaluation else None,
                },
                lambda folder: redteam_stage(config, folder, base, evaluation_prompts(config)),
                saves="nothing (synthesis starts over)",
            )
        )
    if config.course_correction is not None:
        stages.append(
            Stage(
                "course_correction",
                {**common, "course_correction": section_dict(config.course_correction)},
                lambda folder: course_correction_stage(config, folder),
                saves="nothing (synthesis starts over)",
            )
        )
    pair_stages = [s.name for s in stages if s.name in ("redteam", "course_correction")]
    if config.train is not None:
        used = {name for run in config.train.runs for name in run.pairs}
        depends = [name for name in pair_stages if name in used]
        stages.append(
            Stage(
                "train",
                {**common, "train": section_dict(config.train)},
                lambda folder: train_stage(
                    config, folder, {d: stage_folder(run_dir, d) / PAIRS_FILE for d in depends}
                ),
                depends=depends,
                saves="finished train runs and the trainer's last checkpoint",
            )
        )
    if config.steer is not None:
        targets = [
            name
            for section in (config.steer.icv, config.steer.hdr)
            if section is not None
            for name in section.apply_to
        ]
        steer_depends = ["train"] if config.train and any(t != "base" for t in targets) else []
        if config.steer.icv is not None and config.steer.icv.pairs == "redteam":
            steer_depends.insert(0, "redteam")
        stages.append(
            Stage(
                "steer",
                {**common, "data_dir": config.data_dir, "steer": section_dict(config.steer)},
                lambda folder: steer_stage(
                    config,
                    folder,
                    base,
                    _trained_paths(run_dir),
                    stage_folder(run_dir, "redteam") / PAIRS_FILE,
                ),
                depends=steer_depends,
                saves="the vectors and harm fine-tunes finished so far",
            )
        )
    makers = [s.name for s in stages if s.name in ("train", "steer")]
    if config.evaluation is not None and makers:
        stages.append(
            Stage(
                "evaluate",
                {**common, "data_dir": config.data_dir, "evaluation": evaluation},
                lambda folder: evaluate_stage(config, run_dir, folder, makers),
                depends=makers,
                saves="the evaluation tasks finished so far",
            )
        )
    if config.guard_eval is not None:
        stages.append(
            Stage(
                "guard_eval",
                {"data_dir": config.data_dir, "guard_eval": section_dict(config.guard_eval)},
                lambda folder: guard_eval_stage(config, folder),
                saves="nothing (guard evaluation starts over)",
            )
        )
    return stages


# -- the evaluation stages ---------------------------------------------------------------------


def baseline_stage(config: RunConfig, folder: Path, base: Callable[[], LoadedModel]) -> list[str]:
    """The untouched model, and the same model with the safety system prompt."""
    section = config.evaluation
    assert section is not None
    baselines = [
        (
            VariantResult(UNTOUCHED, "baseline", "the model as given", None),
            None,
        ),
        (
            VariantResult(
                SYSTEM_PROMPT,
                "baseline",
                "the model as given, with a safety system prompt before every request",
                None,
            ),
            section.system_prompt,
        ),
    ]
    scored = []
    for variant, system_prompt in baselines:
        served = variant.name in section.served_models
        scored.append(
            evaluate_variant(
                config,
                variant,
                folder / variant.name,
                loaded=None if served else base(),
                system_prompt=system_prompt,
            )
        )
    write_json_atomic(folder / VARIANTS_FILE, [dataclasses.asdict(v) for v in scored])
    return [VARIANTS_FILE, UNTOUCHED, SYSTEM_PROMPT]


def evaluate_stage(config: RunConfig, run_dir: Path, folder: Path, makers: list[str]) -> list[str]:
    """Every variant the making stages recorded, on the same tasks as the baselines."""
    scored = []
    for maker in makers:
        for variant in made_variants(stage_folder(run_dir, maker)):
            scored.append(evaluate_variant(config, variant, folder / variant.name))
    write_json_atomic(folder / VARIANTS_FILE, [dataclasses.asdict(v) for v in scored])
    return [VARIANTS_FILE, *(v.name for v in scored)]


def guard_eval_stage(config: RunConfig, folder: Path) -> list[str]:
    """`safealign guard eval` into the stage folder; PR curves kept for the report."""
    from safealign.guard.evaluation import run_guard_eval  # loads the guard's encoder

    assert config.guard_eval is not None
    guard_config = dataclasses.replace(
        config.guard_eval, output=str(folder), data_dir=config.data_dir
    )
    curves = []
    for report in run_guard_eval(guard_config):
        for level, metrics in report.levels.items():
            precision, recall = metrics.get("curve", [[], []])
            curves.append(
                GuardCurve(
                    guard=f"{guard_config.guard} ({level})",
                    dataset=report.name,
                    precision=[float(p) for p in precision],
                    recall=[float(r) for r in recall],
                    auprc=float(metrics.get("auprc", float("nan"))),
                    f1=float(metrics.get("f1", float("nan"))),
                    threshold=float(metrics.get("threshold", 0.5)),
                )
            )
    write_json_atomic(folder / "curves.json", [dataclasses.asdict(c) for c in curves])
    return ["curves.json", "report.json", "report.md"]


# -- summary and report ------------------------------------------------------------------------


def build_summary(
    config: RunConfig, run_dir: Path, records: list[StageRecord], started: str
) -> RunSummary:
    """Everything the report shows, from the stage folders (cached or not)."""
    variants: list[VariantResult] = []
    for name in ("baseline", "evaluate"):
        path = stage_folder(run_dir, name) / VARIANTS_FILE
        if path.is_file():
            variants += [VariantResult.from_dict(row) for row in json.loads(path.read_text())]
    checks = check_targets(variants, config.targets)
    best = best_variant(variants, config.max_over_refusal_rise)
    curves = []
    for run in config.train.runs if config.train else []:
        curve = training_curve(
            run.name, stage_folder(run_dir, "train") / run.name / "metrics.jsonl"
        )
        if curve is not None:
            curves.append(curve)
    guard_curves = []
    curves_file = stage_folder(run_dir, "guard_eval") / "curves.json"
    if config.guard_eval is not None and curves_file.is_file():
        guard_curves = [GuardCurve(**c) for c in json.loads(curves_file.read_text())]
    best_path = _save_best(best, run_dir) if best is not None else None
    return RunSummary(
        name=config.name,
        run_dir=str(run_dir),
        config=config_to_dict(config),
        versions=package_versions(),
        started=started,
        finished=_now(),
        stages=records,
        variants=variants,
        best_variant=best.name if best else None,
        best_model_path=str(best_path) if best_path else None,
        training_curves=curves,
        guard_curves=guard_curves,
        targets=checks,
        warnings=run_warnings(variants, checks, best),
    )


def write_summary_and_report(summary: RunSummary, run_dir: Path) -> list[Path]:
    """summary.json (atomically), then the report when `pipeline.report` is installed."""
    path = write_json_atomic(run_dir / SUMMARY_FILE, summary.to_dict())
    try:  # the renderer (HTML, plots: matplotlib) is imported only when a report is written
        report = importlib.import_module("safealign.pipeline.report")
    except ModuleNotFoundError as exc:
        if exc.name != "safealign.pipeline.report":
            raise
        note = run_dir / "REPORT.txt"
        note.write_text(
            "This safealign has no report renderer (safealign.pipeline.report); "
            "summary.json holds every figure.\n"
        )
        return [path, note]
    return list(dict.fromkeys([path, *report.write_run_report(summary, run_dir)]))  # once each


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("safealign", "torch", "transformers", "peft"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


# -- helpers -----------------------------------------------------------------------------------


def _run_stage(
    run_dir: Path, stage: Stage, digest: str, folder: Path, resume_command: str
) -> StageRecord:
    record = StageRecord(stage.name, "interrupted", 0.0, digest)
    write_record(run_dir, record)  # "interrupted" until the stage returns
    started = time.time()
    try:
        record.outputs = stage.work(folder)
    except (KeyboardInterrupt, RunInterrupted) as exc:
        record.seconds = time.time() - started
        write_record(run_dir, record)
        saved = stage.saves
        if isinstance(exc, RunInterrupted):  # the verb's own account (e.g. the checkpoint step)
            saved += f" ({exc.saved})"
        raise RunInterrupted(
            stopped_at=f"stage {stage.name} of {run_dir}",
            saved=f"{saved} (in {folder}); earlier stages are finished and cached",
            resume=resume_command,
        ) from exc
    except BaseException:
        record.status = "failed"
        record.seconds = time.time() - started
        write_record(run_dir, record)
        raise
    record.status = "done"
    record.seconds = time.time() - started
    write_record(run_dir, record)
    return record


def _cached(run_dir: Path, name: str, digest: str) -> StageRecord:
    saved = json.loads((stage_folder(run_dir, name) / "stage.json").read_text())
    return StageRecord(name, "cached", float(saved.get("seconds", 0.0)), digest, saved["outputs"])


def _base_loader(config: RunConfig) -> Callable[[], LoadedModel]:
    """The untouched model, loaded on first use and shared by the stages that only read it."""
    cache: list[LoadedModel] = []

    def base() -> LoadedModel:
        if not cache:
            cache.append(load_model(config.model, dtype=config.dtype))
        return cache[0]

    return base


def _trained_paths(run_dir: Path) -> dict[str, str]:
    return {
        v.name: v.model_path
        for v in made_variants(stage_folder(run_dir, "train"))
        if v.model_path is not None
    }


def _save_best(best: VariantResult, run_dir: Path) -> Path | None:
    """A copy of the best variant's model folder at <run_dir>/best_model (any verb loads it)."""
    source = Path(best.model_path or "")
    if not source.is_dir():
        return None
    target = run_dir / BEST_MODEL
    marker = target / "safealign_best.json"
    stamp = {
        "variant": best.name,
        "source": str(source),
        "modified": max((p.stat().st_mtime for p in source.rglob("*") if p.is_file()), default=0),
    }
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return target  # the same folder, already copied
    with atomic_path(target) as staged:
        shutil.copytree(source, staged, dirs_exist_ok=True)
        (staged / marker.name).write_text(json.dumps(stamp, indent=2) + "\n")
    return target


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
