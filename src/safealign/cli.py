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

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
from safealign.errors import ConfigError, DataError, RunInterrupted, SafealignError

# Verbs name their config classes as "module:Name" and import what they run inside their body:
# heavy import deferred so the CLI starts fast (safealign.cli_options builds a verb on first use).

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
    # heavy import deferred so the CLI starts fast
    import torch
    from transformers.utils import logging as transformers_logging

    torch.set_num_threads(int(os.environ.get("SAFEALIGN_THREADS", "2")))
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


# ---------------------------------------------------------------------------------------------
# run and demo

ForceOption = typer.Option(
    None,
    "--force",
    help="Redo this stage (and the stages that depend on it) even if it is cached; repeatable.",
)


@config_verb(app, "run", "safealign.pipeline.config:RunConfig", section="run")
def run_command(
    request: ConfigRequest,
    config_file: Path | None = typer.Argument(
        None, help="The run's YAML file (configs/run/*.yaml); same as --config."
    ),
    force: list[str] = ForceOption,
) -> None:
    """Take a model from unsafe to safe: baselines, pairs, training, steering, evaluation of
    every variant, the report. Stages are cached in the run folder; a re-run resumes."""
    # heavy import deferred so the CLI starts fast
    from safealign.pipeline import load_run_config

    if config_file is not None and request.path is not None:
        raise ConfigError("give the config once: as CONFIG or as --config, not both.")
    path = config_file or request.path
    if path is None:
        raise ConfigError("safealign run needs a config: safealign run configs/run/embedded.yaml")
    cfg = load_run_config(path, request.overrides)
    _run_and_print(cfg, force or [])


@config_verb(app, "demo", "safealign.pipeline.demo:DemoConfig", section="demo")
def demo(request: ConfigRequest, force: list[str] = ForceOption) -> None:
    """`safealign run` with the built-in demo config: measure the embedded model beside a
    safety system prompt, train BFPO on its own red-team answers, add the in-context safety
    vector, measure every variant, write the report."""
    # heavy import deferred so the CLI starts fast
    from safealign.pipeline import demo_run_config

    _run_and_print(demo_run_config(request.load()), force or [])


def _without_force(args: list[str]) -> list[str]:
    """The command line minus --force: resuming must not redo a stage from scratch."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--force":
            skip = True
        elif not arg.startswith("--force="):
            kept.append(arg)
    return kept


def _run_and_print(cfg: Any, force: list[str]) -> None:
    # heavy import deferred so the CLI starts fast
    import shlex

    from safealign.pipeline import run_pipeline
    from safealign.pipeline.summary import summary_table

    _prepare_runtime()
    console.rule(f"[bold]safealign run[/] {cfg.name} on {cfg.model} -> {cfg.output_dir}")
    resume = "safealign " + " ".join(shlex.quote(a) for a in _without_force(sys.argv[1:]))
    summary = run_pipeline(
        cfg, force=force, resume_command=resume, notify=lambda line: console.print(line)
    )
    rows = summary_table(summary.variants)
    table = Table(title="Variants (95% bootstrap intervals; harmful compliance: lower is safer)")
    for column in rows[0]:
        table.add_column(column)
    for row in rows[1:]:
        table.add_row(*row)
    console.print(table)
    for line in summary.warnings:
        console.print(f"[yellow]warning:[/] {line}", highlight=False)
    if summary.best_variant:
        console.print(
            f"best variant: [green]{summary.best_variant}[/] -> {summary.best_model_path}"
        )
    console.print(f"summary: {summary.run_dir}/summary.json")


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
    # heavy import deferred so the CLI starts fast
    from safealign.data.catalog import catalog_rows

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
    # heavy import deferred so the CLI starts fast
    from safealign.models import embedded_checkpoint
    from safealign.models.encoder import embedded_encoder_path

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
    "safealign.evaluate.config:EvalConfig",
    "safealign.evaluate.tasks:settings_classes",
    section="eval",
    aliases={"judges": ["--judge", "-j"], "attacks": ["--attack"], "k_values": ["--k"]},
    choices={"task": "safealign.evaluate.tasks:TASKS"},
)
def eval_run(request: ConfigRequest) -> None:
    """Generate answers for a task, judge them, and write the run directory with its reports.

    Limits, k values, attacks, ... belong to one task each: see `safealign eval tasks`.
    """
    # heavy import deferred so the CLI starts fast
    from safealign.evaluate import load_eval_config, run_eval

    _prepare_runtime()
    cfg = load_eval_config(request.path, request.overrides)
    result = run_eval(cfg)
    _print_eval_summary(result.path, result.metrics)


@eval_app.command("tasks")
def eval_tasks() -> None:
    """List the tasks, what they measure, and the settings each one owns."""
    # heavy import deferred so the CLI starts fast
    from safealign.evaluate import TASKS

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
    # heavy import deferred so the CLI starts fast
    from safealign.evaluate import rescore

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
    # heavy import deferred so the CLI starts fast
    from safealign.evaluate import compare_runs

    compare_runs(runs, out)
    console.print((out / "comparison.md").read_text())
    console.print(f"[green]wrote[/] {out}/comparison.html")


@config_verb(
    eval_app,
    "judge-agreement",
    "safealign.evaluate.agreement:JudgeAgreementConfig",
    section="judge_agreement",
    aliases={"judges": ["--judge", "-j"]},
)
def eval_judge_agreement(request: ConfigRequest) -> None:
    """Agreement of refusal judges with XSTest's 2,250 human-labelled completions."""
    # heavy import deferred so the CLI starts fast
    from safealign.data.catalog import shared_data_dir
    from safealign.evaluate import judge_agreement, xstest_completions
    from safealign.evaluate.agreement import JudgeAgreementConfig

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
    # heavy import deferred so the CLI starts fast
    from safealign.evaluate.judges.refusal_classifier import DEFAULT_HEAD, train_refusal_head

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
    # heavy import deferred so the CLI starts fast
    from safealign.evaluate import label_with_jury

    _prepare_runtime()
    loaded = load_samples(data, format, limit=limit)
    _require_rows(loaded, data, limit)
    summary = label_with_jury(loaded.samples, jury, out)
    console.print(summary)
    console.print(f"[green]wrote[/] {out}")


def _print_eval_summary(path: Path, metrics: dict) -> None:
    # heavy import deferred so the CLI starts fast
    from safealign.evaluate.report import HEADLINE, PREFERENCE, format_rate

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
    "safealign.train.config:TrainConfig",
    section="train",
    choices={
        "objective": "safealign.train.config:OBJECTIVES",
        "pairs": "safealign.train.config:PAIR_MODES",
        "loss.name": "safealign.train.losses:PREFERENCE_LOSSES",
    },
)
def train_command(request: ConfigRequest) -> None:
    """Preference (DPO/IPO/BFPO), SFT, reward- or cost-model training, LoRA by default."""
    # heavy import deferred so the CLI starts fast
    from safealign.train.config import TrainConfig
    from safealign.train.trainer import train

    _prepare_runtime()
    cfg: TrainConfig = request.load()
    method = cfg.objective if cfg.objective != "preference" else "+".join(cfg.loss.loss_weights())
    console.rule(f"[bold]safealign train[/] {method} on {cfg.model} ({cfg.pair_mode} pairs)")
    result = train(cfg)
    last = result.metrics[-1] if result.metrics else {}
    if cfg.objective == "safe_rlhf":  # no loss to report: the run's own measures, last iteration
        console.print(
            f"{result.num_pairs} prompts, {result.steps} PPO iterations; last iteration: "
            f"cost {last.get('cost', float('nan')):.3f}, reward "
            f"{last.get('reward', float('nan')):.3f}, lambda {last.get('lambda', float('nan')):.3f}"
        )
    else:
        console.print(
            f"{result.num_pairs} pairs ({result.num_truncated} truncated, "
            f"{len(result.skipped)} skipped), {result.steps} steps, final loss "
            f"{last.get('loss', float('nan')):.4f}"
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


@config_verb(
    synth_app,
    "course-correction",
    "safealign.train.synthesis:CourseCorrectionConfig",
    section="course_correction",
)
def synth_course_correction(request: ConfigRequest) -> None:
    """C2-Syn: 15 ranked course-correction pairs per harmful (request, response)."""
    # heavy import deferred so the CLI starts fast
    from safealign.train.synthesis.run import run_course_correction

    _prepare_runtime()
    result = run_course_correction(request.load())
    console.print(f"{result.pairs} pairs from {result.prompts} prompts: [green]{result.output}[/]")


@config_verb(synth_app, "redteam", "safealign.train.synthesis:RedTeamConfig", section="redteam")
def synth_redteam(request: ConfigRequest) -> None:
    """BFPO red-teaming pairs: the policy's own answers, labelled for safety and helpfulness."""
    # heavy import deferred so the CLI starts fast
    from safealign.train.synthesis import RedTeamConfig
    from safealign.train.synthesis.run import run_redteam

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

GUARD_KINDS: dict[str, tuple[str, str]] = {
    "encoder": ("safealign.guard.recipe:GuardTrainConfig", "train"),
    "mixture": ("safealign.guard.mixture:MixtureTrainConfig", "train_mixture"),
    "llm": ("safealign.guard.recipe:LLMGuardRecipeConfig", "train_llm"),
}
"""Guard families `guard train --kind` builds: their recipe config and YAML section."""


@config_verb(guard_app, "train", *(cls for cls, _ in GUARD_KINDS.values()))
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
    # heavy import deferred so the CLI starts fast
    from safealign.guard.mixture import train_guard_mixture
    from safealign.guard.recipe import train_guard_from_sources, train_llm_guard_from_sources

    classes = dict(zip(GUARD_KINDS, request.classes, strict=True))
    if kind not in GUARD_KINDS:
        *first, last = (f'"{k}"' for k in GUARD_KINDS)
        raise ConfigError(f'--kind must be {", ".join(first)} or {last}, got "{kind}"')
    cls, section = classes[kind], GUARD_KINDS[kind][1]
    known = set(cls.__dataclass_fields__)
    for key in request.overrides:
        if key.split(".")[0] not in known:
            others = [k for k, c in classes.items() if key.split(".")[0] in c.__dataclass_fields__]
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


@config_verb(
    guard_app, "calibrate", "safealign.guard.mixture:MixtureTrainConfig", section="train_mixture"
)
def guard_calibrate(
    request: ConfigRequest,
    guard: str = typer.Option(..., help="Folder of a guard trained by this recipe."),
) -> None:
    """Fit a v2 guard's calibration again on its recipe's dev set and write it to --output
    (weights copied; e.g. another response threshold rule, --encoder-response-threshold-beta)."""
    # heavy import deferred so the CLI starts fast
    from safealign.guard.mixture import recalibrate_guard_mixture

    _prepare_runtime()
    cfg = request.load()
    if Path(cfg.output).resolve() == Path(guard).resolve():
        raise ConfigError("--output must differ from --guard: the calibrated guard is a new one.")
    metrics = recalibrate_guard_mixture(cfg, guard)
    table = Table(title="dev metrics (calibrated)")
    for column in ("head", "precision", "recall", "F1", "AUPRC", "threshold"):
        table.add_column(column)
    for head, m in metrics.items():
        if "precision" in m:
            values = ("precision", "recall", "f1", "auprc", "threshold")
            table.add_row(head, *(f"{m[k]:.3f}" for k in values))
    console.print(table)
    console.print(f"guard: [green]{cfg.output}[/]")


@config_verb(guard_app, "eval", "safealign.guard.evaluation:GuardEvalConfig", section="eval")
def guard_eval(request: ConfigRequest) -> None:
    """Harmful-class F1 / precision / recall / AUPRC (prompt and response level), PR curves;
    with --targets, the guard v2 targets beside --baseline in one run."""
    # heavy import deferred so the CLI starts fast
    from safealign.guard.evaluation import GuardEvalConfig, run_guard_eval
    from safealign.guard.targets import run_target_eval

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
    "safealign.guard.files:GuardClassifyConfig",
    section="classify",
    aliases={"input": ["-i"], "output": ["-o"]},
    parsers={"categories": _comma_list},
)
def guard_classify(request: ConfigRequest) -> None:
    """Judge conversations from JSONL (or stdin) and write one JSONL verdict per line."""
    # heavy import deferred so the CLI starts fast
    from safealign.guard.files import GuardClassifyConfig, classify_file

    _prepare_runtime()
    cfg: GuardClassifyConfig = request.load()
    count = classify_file(cfg)
    if cfg.output != "-":
        console.print(f"{count} verdicts: [green]{cfg.output}[/]")


# ---------------------------------------------------------------------------------------------
# serve and audit


@config_verb(
    app,
    "serve",
    "safealign.serve.config:ServeConfig",
    section="serve",
    skip=("api_keys", "policy.rules"),
)
def serve_command(
    request: ConfigRequest,
    workers: int = typer.Option(1, help="Uvicorn worker processes (each loads the guard)."),
) -> None:
    """Run the guardrail service: /v1/moderations, /v1/guard/check, /v1/chat/completions.

    API keys and policy rules come from --config or SAFEALIGN_API_KEYS, never from flags (a
    command line is visible to every user of the machine)."""
    # heavy import deferred so the CLI starts fast
    from safealign.serve import run_server

    _prepare_runtime()
    run_server(request.load(), workers=workers)


audit_app = typer.Typer(help="Read the guardrail service's audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@config_verb(
    audit_app,
    "export",
    "safealign.serve.audit:AuditExportConfig",
    section="audit",
    aliases={"output": ["-o"]},
)
def audit_export(request: ConfigRequest) -> None:
    """Write audit rows as JSONL or CSV, filtered by time, key and action."""
    # heavy import deferred so the CLI starts fast
    from safealign.serve.audit import export_audit

    cfg = request.load()
    count = export_audit(cfg)
    if cfg.output != "-":
        err_console.print(f"{count} audit rows: [green]{cfg.output}[/]")


# ---------------------------------------------------------------------------------------------
# steer

steer_app = typer.Typer(
    help="Safety Arithmetic: harm-direction removal in weights, safety vectors in activations.",
    no_args_is_help=True,
)
app.add_typer(steer_app, name="steer")


@config_verb(steer_app, "icv", "safealign.steer.config:IcvConfig", section="icv")
def steer_icv(request: ConfigRequest) -> None:
    """Build a steering vector (in-context safety vector) from contrast pairs."""
    # heavy import deferred so the CLI starts fast
    from safealign.steer.run import build_icv

    _prepare_runtime()
    cfg = request.load()
    vector = build_icv(cfg)
    norms = vector.scaled_norms()
    console.print(
        f"{vector.method} vector from {vector.num_pairs} pairs, {len(norms)} layers, norm "
        f"{min(norms.values()):.2f}..{max(norms.values()):.2f}: [green]{cfg.output}[/]"
    )


@config_verb(steer_app, "apply", "safealign.steer.config:ApplyConfig", section="apply")
def steer_apply(request: ConfigRequest) -> None:
    """Write a steered model folder: every verb loads it with --model FOLDER."""
    # heavy import deferred so the CLI starts fast
    from safealign.steer.run import apply_steering

    cfg = request.load()
    folder = apply_steering(cfg)
    console.print(f"steered model ({cfg.rule}, alpha {cfg.alpha}): [green]{folder}[/]")


@config_verb(
    steer_app, "harm-vector", "safealign.steer.config:HarmVectorConfig", section="harm_vector"
)
def steer_harm_vector(request: ConfigRequest) -> None:
    """Fine-tune a copy on harmful answers from the shared data (LoRA SFT): the harm vector."""
    # heavy import deferred so the CLI starts fast
    from safealign.steer.hdr import build_harm_vector

    _prepare_runtime()
    result = build_harm_vector(request.load())
    console.print(
        f"{result.num_examples} harmful examples, loss {result.loss_first:.3f} -> "
        f"{result.loss_last:.3f}; harm vector (adapter): [green]{result.adapter}[/]"
    )


@config_verb(
    steer_app,
    "safety-arithmetic",
    "safealign.steer.config:SafetyArithmeticConfig",
    section="safety_arithmetic",
)
def steer_safety_arithmetic(request: ConfigRequest) -> None:
    """Harm Direction Removal (theta - lambda * top-k(tau_H)), optionally with an ICV attached."""
    # heavy import deferred so the CLI starts fast
    from safealign.steer.hdr import safety_arithmetic

    _prepare_runtime()
    cfg = request.load()
    result = safety_arithmetic(cfg)
    area = f"layers {result.layers}" if result.layers is not None else "all layers"
    console.print(
        f"{'removed' if cfg.operation == 'subtract' else 'added'} {cfg.scale} x harm vector "
        f"{'from' if cfg.operation == 'subtract' else 'to'} {result.tensors_changed} tensors "
        f"({area}), "
        f"{result.entries_kept}/{result.entries_total} entries kept: [green]{result.output}[/]"
    )


@config_verb(
    steer_app,
    "knowledge-edit",
    "safealign.steer.config:KnowledgeEditConfig",
    section="knowledge_edit",
)
def steer_knowledge_edit(request: ConfigRequest) -> None:
    """The edited-model scenario: fine-tune one layer on one NoIntentEdit instance."""
    # heavy import deferred so the CLI starts fast
    from safealign.steer.knowledge_edit import knowledge_edit

    _prepare_runtime()
    console.print(f"edited model: [green]{knowledge_edit(request.load())}[/]")


# ---------------------------------------------------------------------------------------------
# report


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., help="Run folder written by `safealign run`."),
    screenshot: Path | None = typer.Option(
        None, help="Also save what headless Chromium shows of report.html as this PNG."
    ),
) -> None:
    """Render a run's report again from its summary.json (HTML, Markdown, plots)."""
    # heavy import deferred so the CLI starts fast
    from safealign.pipeline.report import load_summary, write_run_report

    written = write_run_report(load_summary(run_dir), run_dir)
    console.print(f"[green]report:[/] {written[0]} and {written[1]}")
    if screenshot is not None:
        from safealign.pipeline.screenshot import screenshot as take

        console.print(f"[green]screenshot:[/] {take(written[0], screenshot)}")


# ---------------------------------------------------------------------------------------------


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it: a script that chains verbs
sees that the verb did not finish."""


def main() -> None:
    """Entry point that turns safealign's own errors into one clear line and exit code 2, and
    Ctrl-C into one line (where it stopped, what is saved, how to resume) and exit code 130."""
    try:
        # typer turns a KeyboardInterrupt raised in a verb into the return value 130 here
        status = app(standalone_mode=False)
    except RunInterrupted as exc:
        err_console.print(
            f"[bold red]safealign:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(INTERRUPTED)
    except SafealignError as exc:
        err_console.print(f"[bold red]safealign:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # outside the verb: while the command line is parsed
        status = INTERRUPTED
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, ...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[bold red]safealign:[/] {exc}", highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    if status == INTERRUPTED:  # Ctrl-C where no loop could say more (loading, a short verb)
        err_console.print("[bold red]safealign:[/] interrupted (Ctrl-C) before it finished")
    if isinstance(status, int) and status:
        sys.exit(status)


if __name__ == "__main__":
    main()
