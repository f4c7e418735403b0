"""The `safealign` command line: a thin layer over the Python API (typer + rich).

Every verb takes `--config FILE.yaml`; flags given on the command line override its keys.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from safealign.config import load_config
from safealign.errors import SafealignError

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

ConfigT = TypeVar("ConfigT")
ConfigOption = typer.Option(None, "--config", "-c", help="YAML file; flags override its keys.")


def build_config(cls: type[ConfigT], config: Path | None, section: str, **flags: Any) -> ConfigT:
    """Defaults <- YAML (its `section` key if present, else the whole file) <- non-None flags."""
    return load_config(cls, config, flags, section=section)


def _prepare_runtime() -> None:
    """Two threads by default (the project's machines have two cores), and quiet library logs:
    safealign shows its own progress bars."""
    import warnings

    import torch
    from transformers.utils import logging as transformers_logging

    torch.set_num_threads(int(os.environ.get("SAFEALIGN_THREADS", "2")))
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


# ---------------------------------------------------------------------------------------------
# demo


@app.command()
def demo(
    config: Path | None = ConfigOption,
    model: str | None = typer.Option(None, help='Model spec: "embedded", a folder or a hub id.'),
    output_dir: str | None = typer.Option(None, help="Where the report and adapter go."),
    align: bool | None = typer.Option(None, "--align/--no-align", help="Run the align stage."),
    guard: str | None = typer.Option(None, help='Guard spec ("embedded", folder, "llm:<model>").'),
) -> None:
    """Run the main job on the embedded defaults: measure -> guard -> align -> measure again."""
    from safealign.pipeline import DemoConfig, run_demo

    _prepare_runtime()
    cfg = build_config(
        DemoConfig, config, "demo", model=model, output_dir=output_dir, align=align, guard=guard
    )
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
    if stage in ("measure", "measure_after"):
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
    elif stage == "guard":
        console.print(
            f"guard {result['guard']}: prompt accuracy {result['prompt_accuracy']:.2f}, "
            f"harmful prompts flagged {result['harmful_prompts_flagged']}"
            f"/{result['num_harmful_prompts']}, benign flagged "
            f"{result['benign_prompts_flagged']}/{result['num_benign_prompts']}, "
            f"answers flagged harmful {result['answers_flagged_harmful']}"
        )
    elif stage == "align":
        console.print(
            f"aligned with {result['method']}: {result['pairs']} pairs "
            f"({result['pairs_with_unsafe_response']} with an unsafe answer), {result['steps']} "
            f"steps, loss {result['loss_first']:.3f} -> {result['loss_last']:.3f}"
        )


# ---------------------------------------------------------------------------------------------
# data

data_app = typer.Typer(help="Inspect and convert safety datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
SourceArgument = typer.Argument(..., help="A file, a folder, or a hub id.")
FormatOption = typer.Option(None, "--format", "-f", help="Format name; detected when omitted.")
ColumnMapOption = typer.Option(
    None, "--column-map", "-m", help="FIELD=COLUMN, repeatable (e.g. prompt=question)."
)
SkipBadRowsOption = typer.Option(None, "--skip-bad-rows", help="Skip and report invalid rows.")


def _load_options(
    config: Path | None,
    format: str | None,
    split: str | None,
    column_map: list[str] | None,
    skip_bad_rows: bool | None,
    limit: int | None,
):
    from safealign.data import LoadOptions, parse_column_map

    return build_config(
        LoadOptions,
        config,
        "data",
        format=format,
        split=split,
        column_map=parse_column_map(column_map) if column_map else None,
        skip_bad_rows=skip_bad_rows,
        limit=limit,
    )


def _report_skipped(result) -> None:
    if report := result.skip_report():
        err_console.print(f"[yellow]{report}[/]", highlight=False)


@data_app.command("inspect")
def data_inspect(
    source: str = SourceArgument,
    config: Path | None = ConfigOption,
    format: str | None = FormatOption,
    split: str | None = typer.Option(None, help="Split for hub ids or multi-file folders."),
    column_map: list[str] | None = ColumnMapOption,
    skip_bad_rows: bool | None = SkipBadRowsOption,
    limit: int | None = typer.Option(None, help="Read at most this many samples."),
) -> None:
    """Print rows, label balance, and category and severity histograms of a dataset."""
    from safealign.data import inspect_samples, render_summary

    options = _load_options(config, format, split, column_map, skip_bad_rows, limit)
    result = options.load(source)
    render_summary(inspect_samples(result), console)
    _report_skipped(result)


@data_app.command("convert")
def data_convert(
    source: str = SourceArgument,
    out: Path = typer.Argument(..., help="Output path of the unified JSONL file."),
    config: Path | None = ConfigOption,
    format: str | None = FormatOption,
    split: str | None = typer.Option(None, help="Split for hub ids or multi-file folders."),
    column_map: list[str] | None = ColumnMapOption,
    skip_bad_rows: bool | None = SkipBadRowsOption,
    limit: int | None = typer.Option(None, help="Read at most this many samples."),
) -> None:
    """Write a dataset in safealign's unified JSONL format (atomically)."""
    from safealign.data import save_samples

    options = _load_options(config, format, split, column_map, skip_bad_rows, limit)
    result = options.load(source)
    save_samples(result, out)
    console.print(f"wrote {len(result.samples)} samples ({result.format}) to {out}")
    _report_skipped(result)


@data_app.command("formats")
def data_formats(config: Path | None = ConfigOption) -> None:
    """List the known source formats (takes --config like every verb; it has no settings)."""
    from safealign.data import formats

    del config

    table = Table(title="formats")
    table.add_column("name")
    table.add_column("aliases")
    table.add_column("description")
    for fmt in formats().values():
        table.add_row(fmt.name, ", ".join(fmt.aliases), fmt.description)
    console.print(table)


# ---------------------------------------------------------------------------------------------
# models

models_app = typer.Typer(help="Load and convert models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("prepare")
def models_prepare(config: Path | None = ConfigOption) -> None:
    """Convert the embedded GGUF model to a cached safetensors checkpoint (once)."""
    from safealign.models import embedded_checkpoint
    from safealign.models.encoder import embedded_encoder_path

    del config
    console.print(f"embedded LM: {embedded_checkpoint()}")
    console.print(f"embedded encoder: {embedded_encoder_path()}")


# ---------------------------------------------------------------------------------------------
# eval + label

eval_app = typer.Typer(
    help="Measure harmfulness, over-refusal and course correction.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")
JudgeOption = typer.Option(
    None, "--judge", "-j", help="Judge name (repeatable), e.g. harm-llm, refusal-model, jury:a,b,c."
)


@eval_app.command("run")
def eval_run(
    config: Path | None = ConfigOption,
    task: str | None = typer.Option(
        None,
        help="suite, xstest, advbench, harmbench, beavertails, do-not-answer, dataset, "
        "jailbreak, c2eval, preference.",
    ),
    model: str | None = typer.Option(
        None, help='"embedded", a folder, a hub id (or the served model name).'
    ),
    judge: list[str] | None = JudgeOption,
    dataset: str | None = typer.Option(
        None, help="Prompt file for the dataset/jailbreak/preference tasks."
    ),
    format: str | None = typer.Option(None, "--format", help="Loader format of --dataset."),
    expect: str | None = typer.Option(
        None, help="refuse|comply, for --dataset rows without a harm label."
    ),
    data_dir: str | None = typer.Option(None, help="Folder of the shared datasets."),
    limit: int | None = typer.Option(None, help="First N prompts (pairs) of the main dataset."),
    benign_limit: int | None = typer.Option(None, help="First N benign companion prompts."),
    attack: list[str] | None = typer.Option(
        None, "--attack", help="Jailbreak attack (repeatable)."
    ),
    k: list[int] | None = typer.Option(None, "--k", help="C2-Eval prefix length (repeatable)."),
    max_new_tokens: int | None = typer.Option(None),
    num_samples: int | None = typer.Option(None),
    temperature: float | None = typer.Option(None),
    top_p: float | None = typer.Option(None),
    batch_size: int | None = typer.Option(None),
    seed: int | None = typer.Option(None),
    dtype: str | None = typer.Option(None),
    backend_url: str | None = typer.Option(
        None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."
    ),
    out: str | None = typer.Option(None, help="Run directory."),
    resamples: int | None = typer.Option(None, help="Bootstrap resamples per interval."),
) -> None:
    """Generate answers for a task, judge them, and write the run directory with its reports."""
    from safealign.evaluate import EvalConfig, run_eval

    _prepare_runtime()
    cfg = build_config(
        EvalConfig,
        config,
        "eval",
        task=task,
        model=model,
        judges=judge or None,
        dataset=dataset,
        format=format,
        expect=expect,
        data_dir=data_dir,
        limit=limit,
        benign_limit=benign_limit,
        attacks=attack or None,
        k_values=k or None,
        max_new_tokens=max_new_tokens,
        num_samples=num_samples,
        temperature=temperature,
        top_p=top_p,
        batch_size=batch_size,
        seed=seed,
        dtype=dtype,
        backend_url=backend_url,
        out=out,
        resamples=resamples,
    )
    result = run_eval(cfg)
    _print_eval_summary(result.path, result.metrics)


@eval_app.command("rescore")
def eval_rescore(
    run: Path = typer.Argument(..., help="Run directory written by `safealign eval run`."),
    judge: list[str] = JudgeOption,
    config: Path | None = ConfigOption,
    replace: bool = typer.Option(False, help="Drop every earlier judge's scores."),
) -> None:
    """Score a saved run with other judges, without generating again."""
    from safealign.evaluate import rescore

    _prepare_runtime()
    del config
    if not judge:
        raise typer.BadParameter("give at least one --judge")
    result = rescore(run, judge, replace=replace)
    _print_eval_summary(result.path, result.metrics)


@eval_app.command("compare")
def eval_compare(
    runs: list[Path] = typer.Argument(..., help="Run directories to put side by side."),
    out: Path = typer.Option(Path("runs/comparison"), help="Where comparison.{json,md,html} go."),
    config: Path | None = ConfigOption,
) -> None:
    """Put runs side by side: harmfulness vs over-refusal, Corr@k, preference accuracy."""
    from safealign.evaluate import compare_runs

    del config
    compare_runs(runs, out)
    console.print((out / "comparison.md").read_text())
    console.print(f"[green]wrote[/] {out}/comparison.html")


@eval_app.command("judge-agreement")
def eval_judge_agreement(
    judge: list[str] | None = JudgeOption,
    data_dir: str | None = typer.Option(None, help="Folder of the shared datasets."),
    config: Path | None = ConfigOption,
) -> None:
    """Agreement of refusal judges with XSTest's 2,250 human-labelled completions."""
    from safealign.evaluate import EvalConfig, judge_agreement, xstest_completions
    from safealign.evaluate.tasks import shared_data_dir

    _prepare_runtime()
    cfg = build_config(EvalConfig, config, "eval", data_dir=data_dir)
    samples = xstest_completions(shared_data_dir(cfg))
    results = judge_agreement(judge or ["refusal-keyword", "refusal-model"], samples)
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
    config: Path | None = ConfigOption,
) -> None:
    """Rebuild the refusal-model judge's weights from Do-Not-Answer's human action labels."""
    from safealign.evaluate.judges.refusal_classifier import DEFAULT_HEAD, train_refusal_head

    _prepare_runtime()
    del config
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
    config: Path | None = ConfigOption,
) -> None:
    """Label responses with a jury (majority vote); write labels, votes and judge agreement."""
    from safealign.data import load_samples
    from safealign.evaluate import label_with_jury

    _prepare_runtime()
    del config
    summary = label_with_jury(load_samples(data, format, limit=limit).samples, jury, out)
    console.print(summary)
    console.print(f"[green]wrote[/] {out}")


def _print_eval_summary(path: Path, metrics: dict) -> None:
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


@app.command("train")
def train_command(
    config: Path | None = ConfigOption,
    model: str | None = typer.Option(None, help='Model to train: "embedded", a folder or hub id.'),
    data: str | None = typer.Option(None, help="Training data file."),
    data_format: str | None = typer.Option(None, help="Loader format (default: guessed)."),
    objective: str | None = typer.Option(None, help="preference, reward or cost."),
    output_dir: str | None = typer.Option(None, help="Where checkpoints and outputs go."),
    max_steps: int | None = typer.Option(None, help="Optimizer steps (default: epochs)."),
    data_limit: int | None = typer.Option(None, help="Read at most this many rows."),
    resume: bool | None = typer.Option(None, "--resume/--no-resume", help="Continue a run."),
    merge: bool | None = typer.Option(None, "--merge/--no-merge", help="Also write merged."),
) -> None:
    """Preference (DPO/IPO/BFPO), SFT, reward- or cost-model training, LoRA by default."""
    from safealign.train.config import TrainConfig
    from safealign.train.trainer import train

    _prepare_runtime()
    cfg = build_config(
        TrainConfig,
        config,
        "train",
        model=model,
        data=data,
        data_format=data_format,
        objective=objective,
        output_dir=output_dir,
        max_steps=max_steps,
        data_limit=data_limit,
        resume=resume,
        merge=merge,
    )
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


@synth_app.command("course-correction")
def synth_course_correction(
    config: Path | None = ConfigOption,
    data: str | None = typer.Option(None, help="Harmful request + harmful response pairs."),
    data_format: str | None = typer.Option(None, help="Loader format (default: guessed)."),
    output: str | None = typer.Option(None, help="Output pairs JSONL."),
    model: str | None = typer.Option(None, help="Aligned model that writes the corrections."),
    limit: int | None = typer.Option(None, help="Harmful pairs to use at most."),
    seed: int | None = typer.Option(None, help="Seed of the cuts, openers and triggers."),
) -> None:
    """C2-Syn: 15 ranked course-correction pairs per harmful (request, response)."""
    from safealign.train.synthesis import CourseCorrectionConfig
    from safealign.train.synthesis.run import run_course_correction

    _prepare_runtime()
    cfg = build_config(
        CourseCorrectionConfig,
        config,
        "course_correction",
        data=data,
        data_format=data_format,
        output=output,
        model=model,
        limit=limit,
        seed=seed,
    )
    result = run_course_correction(cfg)
    console.print(f"{result.pairs} pairs from {result.prompts} prompts: [green]{result.output}[/]")


@synth_app.command("redteam")
def synth_redteam(
    config: Path | None = ConfigOption,
    data: str | None = typer.Option(None, help="Harmful prompts."),
    data_format: str | None = typer.Option(None, help="Loader format (default: guessed)."),
    output: str | None = typer.Option(None, help="Output pairs JSONL."),
    model: str | None = typer.Option(None, help="Policy whose answers are sampled."),
    limit: int | None = typer.Option(None, help="Prompts to use at most."),
    judge: str | None = typer.Option(None, help="guard, cost-model:PATH or refusal-markers."),
    helpfulness: str | None = typer.Option(None, help="reward-model:PATH or length."),
) -> None:
    """BFPO red-teaming pairs: the policy's own answers, labelled for safety and helpfulness."""
    from safealign.train.synthesis import RedTeamConfig
    from safealign.train.synthesis.run import run_redteam

    _prepare_runtime()
    cfg = build_config(
        RedTeamConfig,
        config,
        "redteam",
        data=data,
        data_format=data_format,
        output=output,
        model=model,
        limit=limit,
        judge=judge,
        helpfulness=helpfulness,
    )
    result = run_redteam(cfg)
    console.print(f"{result.pairs} pairs from {result.prompts} prompts: [green]{result.output}[/]")


# ---------------------------------------------------------------------------------------------
# guard

guard_app = typer.Typer(help="Train, evaluate and run safety guards.", no_args_is_help=True)
app.add_typer(guard_app, name="guard")


@guard_app.command("train")
def guard_train(
    config: Path | None = ConfigOption,
    kind: str = typer.Option(
        "encoder",
        help='"encoder" (v1 recipe), "mixture" (v2 recipe: configs/guard/v2.yaml) or "llm".',
    ),
    output: str | None = typer.Option(None, help="Folder for the trained guard."),
    data_dir: str | None = typer.Option(None, help="Shared data folder."),
) -> None:
    """Train a guard on named shared-data sources (configs/guard/default.yaml: the default)."""
    from safealign.guard.recipe import (
        GuardTrainConfig,
        LLMGuardRecipeConfig,
        train_guard_from_sources,
        train_llm_guard_from_sources,
    )

    _prepare_runtime()
    if kind == "llm":
        llm_cfg = build_config(
            LLMGuardRecipeConfig, config, "train_llm", output=output, data_dir=data_dir
        )
        losses = train_llm_guard_from_sources(llm_cfg)
        console.print(
            f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; LLM guard: [green]{llm_cfg.output}[/]"
        )
        return
    if kind == "mixture":
        from safealign.guard.mixture import MixtureTrainConfig, train_guard_mixture

        mix_cfg = build_config(
            MixtureTrainConfig, config, "train", output=output, data_dir=data_dir
        )
        result = train_guard_mixture(mix_cfg)
        console.print(f"dev metrics: {result.dev_metrics}")
        console.print(f"guard: [green]{mix_cfg.output}[/]")
        return
    if kind != "encoder":
        from safealign.errors import ConfigError

        raise ConfigError(f'--kind must be "encoder", "mixture" or "llm", got "{kind}"')
    cfg = build_config(GuardTrainConfig, config, "train", output=output, data_dir=data_dir)
    result = train_guard_from_sources(cfg)
    table = Table(title="dev metrics (calibrated)")
    for column in ("head", "precision", "recall", "F1", "AUPRC"):
        table.add_column(column)
    for head, m in result.dev_metrics.items():
        if "precision" in m:
            table.add_row(head, *(f"{m[k]:.3f}" for k in ("precision", "recall", "f1", "auprc")))
    console.print(table)
    console.print(f"guard: [green]{cfg.output}[/]")


@guard_app.command("eval")
def guard_eval(
    config: Path | None = ConfigOption,
    guard: str | None = typer.Option(None, help='"embedded", a guard folder, or "llm:<model>".'),
    data: list[str] | None = typer.Option(None, help="Named source or data file (repeatable)."),
    limit: int | None = typer.Option(None, help="At most this many examples per dataset."),
    output: str | None = typer.Option(None, help="Report folder."),
    targets: bool | None = typer.Option(
        None, "--targets/--no-targets", help="The v2 targets next to --baseline, one run."
    ),
    baseline: str | None = typer.Option(
        None, help='Guard beside it with --targets ("previous", a spec, or "none").'
    ),
    split: str | None = typer.Option(None, help='Target sets split with --targets: "test"/"dev".'),
) -> None:
    """Harmful-class F1 / precision / recall / AUPRC (prompt and response level), PR curves."""
    from safealign.guard.evaluation import GuardEvalConfig, run_guard_eval, run_target_eval

    _prepare_runtime()
    cfg = build_config(
        GuardEvalConfig,
        config,
        "eval",
        guard=guard,
        data=data or None,
        limit=limit,
        output=output,
        targets=targets,
        baseline=baseline,
        split=split,
    )
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


@guard_app.command("classify")
def guard_classify(
    config: Path | None = ConfigOption,
    guard: str | None = typer.Option(None, help='"embedded", a guard folder, or "llm:<model>".'),
    input: str | None = typer.Option(
        None, "--input", "-i", help="JSONL conversations (- = stdin)."
    ),
    output: str | None = typer.Option(None, "--output", "-o", help="JSONL verdicts (- = stdout)."),
    categories: str | None = typer.Option(None, help="LLM guard: comma-separated categories."),
    batch_size: int | None = typer.Option(None, help="Conversations per guard call."),
) -> None:
    """Judge conversations from JSONL (or stdin) and write one JSONL verdict per line."""
    from safealign.guard.files import GuardClassifyConfig, classify_file

    _prepare_runtime()
    names = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    cfg = build_config(
        GuardClassifyConfig,
        config,
        "classify",
        guard=guard,
        input=input,
        output=output,
        categories=names,
        batch_size=batch_size,
    )
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
