"""The `safealign` command line: a thin layer over the Python API (typer + rich).

A verb that has settings reads them from its config dataclass: `--config FILE.yaml` fills it,
and every field is also a flag (derived by safealign.cli_options, so a new field is a new flag
with its help text). Flags given on the command line override the file's keys. Verbs without
settings take no `--config`.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import typer
from rich.console import Console
from rich.table import Table
from transformers.utils import logging as transformers_logging

from safealign.cli_options import ConfigRequest, config_verb
from safealign.data import (
    LoadOptions,
    formats,
    inspect_samples,
    load_samples,
    parse_column_map,
    render_summary,
    save_samples,
)
from safealign.data.catalog import catalog_rows, shared_data_dir
from safealign.errors import ConfigError, DataError, SafealignError
from safealign.evaluate import (
    TASKS,
    EvalConfig,
    compare_runs,
    judge_agreement,
    label_with_jury,
    load_eval_config,
    rescore,
    run_eval,
    settings_classes,
    xstest_completions,
)
from safealign.evaluate.agreement import JudgeAgreementConfig
from safealign.evaluate.judges.refusal_classifier import DEFAULT_HEAD, train_refusal_head
from safealign.evaluate.report import HEADLINE, PREFERENCE, format_rate
from safealign.guard.evaluation import GuardEvalConfig, run_guard_eval
from safealign.guard.files import GuardClassifyConfig, classify_file
from safealign.guard.mixture import MixtureTrainConfig, train_guard_mixture
from safealign.guard.recipe import (
    GuardTrainConfig,
    LLMGuardRecipeConfig,
    train_guard_from_sources,
    train_llm_guard_from_sources,
)
from safealign.guard.targets import run_target_eval
from safealign.models import embedded_checkpoint
from safealign.models.encoder import embedded_encoder_path
from safealign.pipeline import AlignSummary, DemoConfig, GuardSummary, run_demo
from safealign.train.config import OBJECTIVES, PAIR_MODES, TrainConfig
from safealign.train.losses import PREFERENCE_LOSSES
from safealign.train.synthesis import CourseCorrectionConfig, RedTeamConfig
from safealign.train.synthesis.run import run_course_correction, run_redteam
from safealign.train.trainer import train

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

app = typer.Typer(
    name="safealign",
    help="Measure how unsafe a language model is, align it, and guard it in deployment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

JudgeOption = typer.Option(
    None, "--judge", "-j", help="Judge name (repeatable), e.g. harm-llm, refusal-model, jury:a,b,c."
)


def _prepare_runtime() -> None:
    """Two threads by default (the project's machines have two cores), and quiet library logs:
    safealign shows its own progress bars."""
    torch.set_num_threads(int(os.environ.get("SAFEALIGN_THREADS", "2")))
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


# ---------------------------------------------------------------------------------------------
# demo


@config_verb(app, "demo", DemoConfig, section="demo")
def demo(request: ConfigRequest) -> None:
    """Run the main job on the embedded defaults: measure -> guard -> align -> measure again."""
    _prepare_runtime()
    cfg = request.load()
    console.rule(f"[bold]safealign demo[/] on {cfg.model}")
    report = run_demo(cfg, on_stage=_print_demo_stage)
    console.rule("[bold]summary")
    table = Table(title="Harmful compliance and over-refusal (95% CI)")
    table.add_column("model")
    table.add_column("harmful compliance (lower is safer)")
    table.add_column("over-refusal (lower is more helpful)")
    for name, result in (("before", report.before), ("after alignment", report.after)):
        if result is not None:
            table.add_row(name, str(result.harmful_compliance), str(result.over_refusal))
    console.print(table)
    console.print(
        f"report: {report.output_dir}/report.md, plot: {report.output_dir}/before_after.png"
    )


def _print_demo_stage(stage: str, result: Any) -> None:
    if isinstance(result, GuardSummary):
        console.print(
            f"guard {result.guard}: prompt accuracy {result.prompt_accuracy:.2f}, "
            f"harmful prompts flagged {result.harmful_prompts_flagged}"
            f"/{result.num_harmful_prompts}, benign flagged "
            f"{result.benign_prompts_flagged}/{result.num_benign_prompts}, "
            f"answers flagged harmful {result.answers_flagged_harmful}"
        )
        return
    if isinstance(result, AlignSummary):
        console.print(
            f"aligned with {result.method}: {result.pairs} pairs "
            f"({result.pairs_with_unsafe_response} with an unsafe answer), {result.steps} "
            f"steps, loss {result.loss_first:.3f} -> {result.loss_last:.3f}"
        )
        return
    title = "before alignment" if stage == "measure" else "after alignment"
    table = Table(title=f"Answers {title} (sample)", show_lines=True)
    table.add_column("kind")
    table.add_column("prompt", max_width=40)
    table.add_column("answer", max_width=60)
    table.add_column("refused")
    for answer in result.answers[:: max(len(result.answers) // 6, 1)][:6]:
        table.add_row(answer.kind, answer.prompt, answer.answer, str(answer.refused))
    console.print(table)
    console.print(
        f"harmful compliance {result.harmful_compliance}   "
        f"over-refusal {result.over_refusal}   (judge: {result.judge})"
    )


# ---------------------------------------------------------------------------------------------
# data

data_app = typer.Typer(help="Inspect and convert safety datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
SourceArgument = typer.Argument(..., help="A file, a folder, or a hub id.")
DATA_OPTIONS: dict[str, Any] = {
    "section": "data",
    "aliases": {"format": ["-f"], "column_map": ["-m"]},
    "parsers": {"column_map": parse_column_map},
}


def _require_rows(result: Any, source: str | Path, limit: int | None = None) -> None:
    """An empty file is most likely the wrong file: say so (an explicit --limit 0 is not)."""
    if not result.samples and not result.skipped and limit != 0:
        raise DataError(
            "no rows in this file", path=source, fix="Check that it is the file you meant."
        )


def _report_skipped(result) -> None:
    if report := result.skip_report():
        err_console.print(f"[yellow]{report}[/]", highlight=False)


@config_verb(data_app, "inspect", LoadOptions, **DATA_OPTIONS)
def data_inspect(request: ConfigRequest, source: str = SourceArgument) -> None:
    """Print rows, label balance, and category and severity histograms of a dataset."""
    options: LoadOptions = request.load()
    result = options.load(source)
    _require_rows(result, source, options.limit)
    render_summary(inspect_samples(result), console)
    _report_skipped(result)


@config_verb(data_app, "convert", LoadOptions, **DATA_OPTIONS)
def data_convert(
    request: ConfigRequest,
    source: str = SourceArgument,
    out: Path = typer.Argument(..., help="Output path of the unified JSONL file."),
) -> None:
    """Write a dataset in safealign's unified JSONL format (atomically)."""
    options: LoadOptions = request.load()
    result = options.load(source)
    _require_rows(result, source, options.limit)
    save_samples(result, out)
    console.print(f"wrote {len(result.samples)} samples ({result.format}) to {out}")
    _report_skipped(result)


@data_app.command("formats")
def data_formats() -> None:
    """List the known source formats."""
    table = Table(title="formats")
    table.add_column("name")
    table.add_column("aliases")
    table.add_column("description")
    for fmt in formats().values():
        table.add_row(fmt.name, ", ".join(fmt.aliases), fmt.description)
    console.print(table)


@data_app.command("list")
def data_list(
    data_dir: str | None = typer.Option(None, help="Folder of the shared datasets."),
) -> None:
    """List the catalogue of shared datasets: name, rows, licence, use (reads each set)."""

    table = Table(title="shared datasets (safealign.data.catalog)")
    table.add_column("name", no_wrap=True)
    for column in ("rows", "licence", "use", "description"):
        table.add_column(column)
    for row in catalog_rows(data_dir):
        rows = f"{row.rows:,}" if row.rows is not None else f"missing: {row.problem}"
        table.add_row(row.name, rows, row.license, row.use, row.description)
    console.print(table)


# ---------------------------------------------------------------------------------------------
# models

models_app = typer.Typer(help="Load and convert models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("prepare")
def models_prepare() -> None:
    """Convert the embedded GGUF model to a cached safetensors checkpoint (once)."""
    console.print(f"embedded LM: {embedded_checkpoint()}")
    console.print(f"embedded encoder: {embedded_encoder_path()}")


# ---------------------------------------------------------------------------------------------
# eval + label

eval_app = typer.Typer(
    help="Measure harmfulness, over-refusal and course correction.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


@config_verb(
    eval_app,
    "run",
    EvalConfig,
    *settings_classes(),
    section="eval",
    aliases={"judges": ["--judge", "-j"], "attacks": ["--attack"], "k_values": ["--k"]},
    choices={"task": lambda: list(TASKS)},
)
def eval_run(request: ConfigRequest) -> None:
    """Generate answers for a task, judge them, and write the run directory with its reports.

    Limits, k values, attacks, ... belong to one task each: see `safealign eval tasks`.
    """
    _prepare_runtime()
    cfg = load_eval_config(request.path, request.overrides)
    result = run_eval(cfg)
    _print_eval_summary(result.path, result.metrics)


@eval_app.command("tasks")
def eval_tasks() -> None:
    """List the tasks, what they measure, and the settings each one owns."""
    table = Table(title="tasks")
    for column in ("task", "description", "settings"):
        table.add_column(column)
    for task in TASKS.values():
        names = [f.name for f in task.settings.__dataclass_fields__.values()]
        table.add_row(task.name, task.description, ", ".join(names))
    console.print(table)


@eval_app.command("rescore")
def eval_rescore(
    run: Path = typer.Argument(..., help="Run directory written by `safealign eval run`."),
    judge: list[str] = JudgeOption,
    replace: bool = typer.Option(False, help="Drop every earlier judge's scores."),
) -> None:
    """Score a saved run with other judges, without generating again."""
    _prepare_runtime()
    if not judge:
        raise typer.BadParameter("give at least one --judge")
    result = rescore(run, judge, replace=replace)
    _print_eval_summary(result.path, result.metrics)


@eval_app.command("compare")
def eval_compare(
    runs: list[Path] = typer.Argument(..., help="Run directories to put side by side."),
    out: Path = typer.Option(Path("runs/comparison"), help="Where comparison.{json,md,html} go."),
) -> None:
    """Put runs side by side: harmfulness vs over-refusal, Corr@k, preference accuracy."""
    compare_runs(runs, out)
    console.print((out / "comparison.md").read_text())
    console.print(f"[green]wrote[/] {out}/comparison.html")


@config_verb(
    eval_app,
    "judge-agreement",
    JudgeAgreementConfig,
    section="judge_agreement",
    aliases={"judges": ["--judge", "-j"]},
)
def eval_judge_agreement(request: ConfigRequest) -> None:
    """Agreement of refusal judges with XSTest's 2,250 human-labelled completions."""
    _prepare_runtime()
    cfg: JudgeAgreementConfig = request.load()
    samples = xstest_completions(shared_data_dir(cfg.data_dir))
    results = judge_agreement(cfg.judges, samples)
    table = Table(title=f"Refusal judges vs XSTest human labels ({len(samples)} completions)")
    for column in (
        "judge",
        "accuracy",
        "Cohen's kappa",
        "F1 (refusal)",
        "precision",
        "recall",
        "n",
    ):
        table.add_column(column)
    for name, a in results.items():
        table.add_row(
            name,
            *(f"{a[k]:.3f}" for k in ("accuracy", "cohen_kappa", "f1", "precision", "recall")),
            str(a["total"]),
        )
    console.print(table)


@eval_app.command("train-refusal-judge")
def eval_train_refusal_judge(
    data: Path = typer.Option(..., help="do_not_answer/datasets/data_en.csv"),
    out: Path | None = typer.Option(None, help="Where the head goes (default: the packaged one)."),
) -> None:
    """Rebuild the refusal-model judge's weights from Do-Not-Answer's human action labels."""
    _prepare_runtime()
    info = train_refusal_head(data, out or DEFAULT_HEAD)
    console.print(info)


@app.command("label")
def label(
    data: Path = typer.Argument(..., help="Responses to label (any loader format with responses)."),
    jury: str = typer.Option(
        ..., help="Comma-separated judges, e.g. refusal-keyword,refusal-model,refusal-llm."
    ),
    out: Path = typer.Option(Path("labels.jsonl"), help="Labels and per-judge votes (JSONL)."),
    format: str | None = typer.Option(None, "--format", help="Loader format of DATA."),
    limit: int | None = typer.Option(None, help="First N rows."),
) -> None:
    """Label responses with a jury (majority vote); write labels, votes and judge agreement."""
    _prepare_runtime()
    loaded = load_samples(data, format, limit=limit)
    _require_rows(loaded, data, limit)
    summary = label_with_jury(loaded.samples, jury, out)
    console.print(summary)
    console.print(f"[green]wrote[/] {out}")


def _print_eval_summary(path: Path, metrics: dict) -> None:
    summary = metrics["summary"]
    table = Table(title=f"Results ({path})")
    table.add_column("measure")
    table.add_column("judge")
    table.add_column("rate [95% CI]")
    keys = [*HEADLINE, *PREFERENCE] if "prefers_safer" in summary else list(HEADLINE)
    if "course_correction_mean" in summary:
        keys.append(("course_correction_mean", "course correction Corr_mean"))
    for key, name in keys:
        entry = summary.get(key)
        table.add_row(name, (entry or {}).get("judge", "-"), format_rate(entry))
    console.print(table)
    for note in summary.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"[green]report:[/] {path}/report.md and {path}/report.html")


# ---------------------------------------------------------------------------------------------
# train / synth


@config_verb(
    app,
    "train",
    TrainConfig,
    section="train",
    choices={"objective": OBJECTIVES, "pairs": PAIR_MODES, "loss.name": PREFERENCE_LOSSES},
)
def train_command(request: ConfigRequest) -> None:
    """Preference (DPO/IPO/BFPO), SFT, reward- or cost-model training, LoRA by default."""
    _prepare_runtime()
    cfg: TrainConfig = request.load()
    method = cfg.objective if cfg.objective != "preference" else "+".join(cfg.loss.loss_weights())
    console.rule(f"[bold]safealign train[/] {method} on {cfg.model} ({cfg.pair_mode} pairs)")
    result = train(cfg)
    last = result.metrics[-1] if result.metrics else {}
    console.print(
        f"{result.num_pairs} pairs ({result.num_truncated} truncated, {len(result.skipped)} "
        f"skipped), {result.steps} steps, final loss {last.get('loss', float('nan')):.4f}"
    )
    for label_, path in [
        ("adapter", result.adapter_dir),
        ("merged model", result.merged_dir),
        (f"{cfg.objective} model", result.scalar_model_dir),
        ("curves", result.plot),
    ]:
        if path is not None:
            console.print(f"[green]{label_}:[/] {path}")


synth_app = typer.Typer(help="Synthesize preference pairs for training.", no_args_is_help=True)
app.add_typer(synth_app, name="synth")


@config_verb(synth_app, "course-correction", CourseCorrectionConfig, section="course_correction")
def synth_course_correction(request: ConfigRequest) -> None:
    """C2-Syn: 15 ranked course-correction pairs per harmful (request, response)."""
    _prepare_runtime()
    result = run_course_correction(request.load())
    console.print(f"{result.pairs} pairs from {result.prompts} prompts: [green]{result.output}[/]")


@config_verb(synth_app, "redteam", RedTeamConfig, section="redteam")
def synth_redteam(request: ConfigRequest) -> None:
    """BFPO red-teaming pairs: the policy's own answers, labelled for safety and helpfulness."""
    _prepare_runtime()
    cfg: RedTeamConfig = request.load()
    result = run_redteam(cfg)
    if result.prompts == 0 and cfg.limit != 0:
        raise DataError("no prompts in this file", path=str(cfg.data), fix="Check --data.")
    console.print(f"{result.pairs} pairs from {result.prompts} prompts: [green]{result.output}[/]")


# ---------------------------------------------------------------------------------------------
# guard

guard_app = typer.Typer(help="Train, evaluate and run safety guards.", no_args_is_help=True)
app.add_typer(guard_app, name="guard")

GUARD_KINDS: dict[str, tuple[type, str]] = {
    "encoder": (GuardTrainConfig, "train"),
    "mixture": (MixtureTrainConfig, "train_mixture"),
    "llm": (LLMGuardRecipeConfig, "train_llm"),
}
"""Guard families `guard train --kind` builds: their recipe config and YAML section."""


@config_verb(guard_app, "train", GuardTrainConfig, MixtureTrainConfig, LLMGuardRecipeConfig)
def guard_train(
    request: ConfigRequest,
    kind: str = typer.Option(
        "encoder",
        help=f"Guard family: {', '.join(GUARD_KINDS)} (encoder: the v1 recipe, fast, the default; "
        "mixture: the v2 recipe, configs/guard/v2.yaml).",
    ),
) -> None:
    """Train a guard on named shared-data sources (configs/guard/default.yaml: the default).

    Options that only one family reads are refused for the other.
    """
    if kind not in GUARD_KINDS:
        *first, last = (f'"{k}"' for k in GUARD_KINDS)
        raise ConfigError(f'--kind must be {", ".join(first)} or {last}, got "{kind}"')
    cls, section = GUARD_KINDS[kind]
    known = set(cls.__dataclass_fields__)
    for key in request.overrides:
        if key.split(".")[0] not in known:
            others = [
                k
                for k, (c, _) in GUARD_KINDS.items()
                if key.split(".")[0] in c.__dataclass_fields__
            ]
            raise ConfigError(
                f"--{key.replace('.', '-').replace('_', '-')} is a setting of --kind "
                f"{' / '.join(others)}, not of --kind {kind}."
            )
    _prepare_runtime()
    cfg = request.load(cls, section)
    if kind == "llm":
        losses = train_llm_guard_from_sources(cfg)
        console.print(
            f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; LLM guard: [green]{cfg.output}[/]"
        )
        return
    # encoder and mixture: the same encoder guard, trained on the v1 or the v2 mixture
    train_encoder = train_guard_mixture if kind == "mixture" else train_guard_from_sources
    result = train_encoder(cfg)
    table = Table(title="dev metrics (calibrated)")
    for column in ("head", "precision", "recall", "F1", "AUPRC"):
        table.add_column(column)
    for head, m in result.dev_metrics.items():
        if "precision" in m:
            table.add_row(head, *(f"{m[k]:.3f}" for k in ("precision", "recall", "f1", "auprc")))
    console.print(table)
    console.print(f"guard: [green]{cfg.output}[/]")


@config_verb(guard_app, "eval", GuardEvalConfig, section="eval")
def guard_eval(request: ConfigRequest) -> None:
    """Harmful-class F1 / precision / recall / AUPRC (prompt and response level), PR curves;
    with --targets, the guard v2 targets beside --baseline in one run."""
    _prepare_runtime()
    cfg: GuardEvalConfig = request.load()
    if cfg.targets:
        console.print(run_target_eval(cfg), markup=False, highlight=False)
        console.print(f"report: [green]{Path(cfg.output) / 'targets.md'}[/]")
        return
    reports = run_guard_eval(cfg)
    table = Table(title=f"guard {cfg.guard}")
    for column in ("dataset", "level", "n", "harmful", "precision", "recall", "F1", "AUPRC"):
        table.add_column(column)
    for report in reports:
        for level, m in report.levels.items():
            table.add_row(
                report.name,
                level,
                str(m["count"]),
                str(m["support"]),
                *(f"{m[k]:.3f}" for k in ("precision", "recall", "f1", "auprc")),
            )
    console.print(table)
    console.print(f"report: [green]{Path(cfg.output) / 'report.md'}[/]")


def _comma_list(values: list[str]) -> list[str]:
    """Repeated and comma-separated values alike: --categories Fraud,Violence."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@config_verb(
    guard_app,
    "classify",
    GuardClassifyConfig,
    section="classify",
    aliases={"input": ["-i"], "output": ["-o"]},
    parsers={"categories": _comma_list},
)
def guard_classify(request: ConfigRequest) -> None:
    """Judge conversations from JSONL (or stdin) and write one JSONL verdict per line."""
    _prepare_runtime()
    cfg: GuardClassifyConfig = request.load()
    count = classify_file(cfg)
    if cfg.output != "-":
        console.print(f"{count} verdicts: [green]{cfg.output}[/]")


# ---------------------------------------------------------------------------------------------


def main() -> None:
    """Entry point that turns safealign's own errors into one clear line and exit code 2."""
    try:
        app(standalone_mode=False)
    except SafealignError as exc:
        err_console.print(f"[bold red]safealign:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, ...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[bold red]safealign:[/] {exc}", highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
