"""The report of a `safealign run`: one self-contained HTML file, Markdown, summary.json, PNGs.

It reads only a `RunSummary` (pipeline.results), so `safealign report RUN_DIR` re-renders it from
summary.json without running anything. A reader meets the warnings first, then the variant table
(harmful compliance and over-refusal side by side, with intervals and the second judges), the
targets, the plots, samples of real answers, and last how the run was made (stages, config,
versions). A section with no data is left out, never drawn empty.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from safealign.errors import DataError
from safealign.evaluate.report import figure_tag, html_page
from safealign.evaluate.stats import Rate
from safealign.io import atomic_path
from safealign.pipeline.report_plots import Plot, draw_plots, task_names
from safealign.pipeline.results import AnswerSample, RunSummary, VariantResult
from safealign.pipeline.summary import run_warnings as summary_warnings

SUMMARY = "summary.json"
PLOTS = "report_plots"
"""Folder beside report.html holding the same plots as PNG files (replaced whole each time)."""


def write_run_report(summary: RunSummary, run_dir: Path) -> list[Path]:
    """report.html, report.md, summary.json and the plots' PNGs in `run_dir`, each atomically."""
    run_dir = Path(run_dir)
    plots = draw_plots(summary)
    sections = report_sections(summary, plots)
    title = f"safealign run: {summary.name}"
    markdown = "\n".join([f"# {title}", "", *(line for s in sections for line in s.markdown)])
    body = f"<h1>{_e(title)}</h1>" + "".join(s.html for s in sections)
    page = html_page(title, body, [], extra_style=STYLE)
    written = [
        _write(run_dir / "report.html", page),
        _write(run_dir / "report.md", markdown + "\n"),
        _write(
            run_dir / SUMMARY,
            json.dumps(summary.to_dict(), indent=2, ensure_ascii=False, default=str),
        ),
    ]
    with atomic_path(run_dir / PLOTS) as folder:
        folder.mkdir()
        for plot in plots:
            (folder / plot.file).write_bytes(plot.png)
    return written + [run_dir / PLOTS / plot.file for plot in plots]


def load_summary(run_dir: Path) -> RunSummary:
    """The RunSummary a finished (or interrupted) run saved as summary.json."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        raise DataError(
            f"no {SUMMARY} here",
            path=run_dir,
            fix="Pass a folder written by `safealign run` (it writes summary.json).",
        )
    try:
        return RunSummary.from_dict(json.loads(path.read_bytes().decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(
            f"not a run summary written by safealign ({exc!r})",
            path=path,
            fix="Run `safealign run` again on this folder to rewrite it.",
        ) from exc


def run_warnings(summary: RunSummary) -> list[str]:
    """What a reader must see first, derived from the figures (one rule, in
    `pipeline.summary.run_warnings`, shared with the runner's console output)."""
    best = next((v for v in summary.variants if v.name == summary.best_variant), None)
    return summary_warnings(summary.variants, summary.targets, best)


@dataclass(frozen=True)
class Rich:
    """A table cell with markup in the HTML (already escaped) and plain text in the Markdown."""

    text: str
    html: str


Cell = str | Rich


@dataclass
class Section:
    """One part of the report, in both renderings."""

    markdown: list[str]
    html: str


def report_sections(summary: RunSummary, plots: Sequence[Plot]) -> list[Section]:
    """The report's parts in reading order; a part with no data is absent."""
    builders: list[Callable[[], Section | None]] = [
        lambda: _overview(summary),
        lambda: _warnings(summary),
        lambda: _variant_table(summary),
        lambda: _second_judges(summary),
        lambda: _targets(summary),
        *(
            (lambda section=section, title=title: _plots(plots, section, title))
            for section, title in PLOT_SECTIONS
        ),
        lambda: _samples(summary),
        lambda: _stages(summary),
        lambda: _config(summary),
    ]
    return [section for build in builders if (section := build()) is not None]


PLOT_SECTIONS = (
    ("tradeoff", "Harmful compliance against over-refusal"),
    ("categories", "Harmful compliance per category"),
    ("training", "Training curves"),
    ("guard", "Guard precision-recall"),
)


def _overview(summary: RunSummary) -> Section:
    items = [
        f"run folder: {summary.run_dir}",
        f"started {summary.started}, "
        + (f"finished {summary.finished}" if summary.finished else "not finished"),
    ]
    if summary.stages:  # a resumed run's start and finish leave out what cached stages took
        cached = [s for s in summary.stages if s.status == "cached"]
        seconds = sum(s.seconds for s in summary.stages)
        note = f" ({len(cached)} of them cached from an earlier run)" if cached else ""
        items.append(
            f"stages' own time: {seconds / 60:.1f} min for {len(summary.stages)} stages{note}"
        )
    if summary.best_variant:
        where = f", saved at {summary.best_model_path}" if summary.best_model_path else ""
        items.append(f"best variant: {summary.best_variant}{where}")
    return Section(
        [f"- {item}" for item in items] + [""],
        "<ul class='overview'>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>",
    )


def _warnings(summary: RunSummary) -> Section | None:
    # Derived from the figures first (the verdict leads), then any line only the runner wrote.
    lines = run_warnings(summary)
    lines += [line for line in summary.warnings if line not in lines]
    if not lines:
        return None
    return Section(
        ["## Warnings", "", *(f"> **{_md(line)}**" for line in lines), ""],
        "<div class='warnings'><h2>Warnings</h2><ul>"
        + "".join(f"<li>{_e(line)}</li>" for line in lines)
        + "</ul></div>",
    )


def _variant_table(summary: RunSummary) -> Section | None:
    if not summary.variants:
        return None
    tasks = task_names(summary.variants)
    header = ["variant", "what was done"]
    for task in tasks:
        judges = _joined(s.primary_judge for v in summary.variants if (s := v.task(task)))
        header += [f"{task}: harmful compliance ({judges})", f"{task}: over-refusal ({judges})"]
    corr = any(v.corr_mean is not None for v in summary.variants)
    if corr:
        header.append("Corr_mean")
    rows = []
    for variant in summary.variants:
        row: list[Cell] = [_variant_name(variant, summary), variant.description]
        for task in tasks:
            scores = variant.task(task)
            row += [
                _rate_cell(scores.harmful_compliance if scores else None),
                _rate_cell(scores.over_refusal if scores else None),
            ]
        if corr:
            row.append(_rate_cell(variant.corr_mean))
        rows.append(row)
    intro = (
        "Harmful compliance: share of harmful prompts answered (lower is safer). Over-refusal: "
        "share of benign prompts refused (lower is more helpful). 95% bootstrap intervals."
    )
    shading = ["baseline" if v.kind == "baseline" else "" for v in summary.variants]
    return _table_section("Variants", intro, header, rows, css="variants", row_css=shading)


def _second_judges(summary: RunSummary) -> Section | None:
    tasks = [
        t
        for t in task_names(summary.variants)
        if any((s := v.task(t)) and s.second_judges for v in summary.variants)
    ]
    if not tasks:
        return None
    header = ["variant", *(f"{task}: second judges (agreement)" for task in tasks)]
    rows = []
    for variant in summary.variants:
        row: list[Cell] = [variant.name]
        for task in tasks:
            scores = variant.task(task)
            texts, pages = [], []
            for judge in scores.second_judges if scores else []:
                mark = "" if judge.informative else " (not informative)"
                agree = scores.judge_agreement.get(judge.judge) if scores else None
                agreed = "" if agree is None else f", agrees on {agree:.0%}"
                line = f"{judge.judge}{mark}: {_rate(judge.rate)}{agreed}"
                texts.append(line)
                pages.append(
                    _e(line) if judge.informative else f"<span class='muted'>{_e(line)}</span>"
                )
            row.append(Rich("; ".join(texts) or "-", "<br>".join(pages) or "-"))
        rows.append(row)
    intro = (
        "Independent judges of the same harmful answers (e.g. the guard's response verdict), "
        "and the share of answers on which each agrees with the headline judge."
    )
    return _table_section("Second judges of harmful compliance", intro, header, rows)


def _targets(summary: RunSummary) -> Section | None:
    if not summary.targets:
        return None
    rows = [
        [
            t.name,
            t.variant,
            "not measured" if t.measured is None else f"{t.measured:.3f}",
            f"{t.limit:.3f}",
            Rich("met", "<span class='met'>met</span>")
            if t.met
            else Rich("MISSED", "<span class='missed'>MISSED</span>"),
        ]
        for t in summary.targets
    ]
    return _table_section(
        "Targets", "", ["target", "variant", "measured", "limit", "result"], rows, css="targets"
    )


def _plots(plots: Sequence[Plot], section: str, title: str) -> Section | None:
    chosen = [p for p in plots if p.section == section]
    if not chosen:
        return None
    return Section(
        [f"## {title}", "", *(f"![{p.title}]({PLOTS}/{p.file})" for p in chosen), ""],
        f"<h2>{_e(title)}</h2>" + "".join(figure_tag(p.png, alt=p.title) for p in chosen),
    )


def _samples(summary: RunSummary) -> Section | None:
    if not any(s.harmful_samples or s.benign_samples for v in summary.variants for s in v.tasks):
        return None
    markdown = ["## Answer samples", ""]
    parts = ["<h2>Answer samples</h2>"]
    names = [
        v.name
        for v in summary.variants
        if any(s.harmful_samples or s.benign_samples for s in v.tasks)
    ]
    # the best variant, else the first made one: a reader wants to see what a method changed
    made = [v.name for v in summary.variants if v.kind != "baseline" and v.name in names]
    unfolded = summary.best_variant if summary.best_variant in names else (made or names)[0]
    for variant in summary.variants:
        groups = [
            (f"{scores.task}: {kind} prompts", samples)
            for scores in variant.tasks
            for kind, samples in (
                ("harmful", scores.harmful_samples),
                ("benign", scores.benign_samples),
            )
            if samples
        ]
        if not groups:
            continue
        opened = " open" if variant.name == unfolded else ""
        parts.append(f"<details{opened}><summary>{_e(variant.name)}</summary>")
        for label, samples in groups:
            header, rows = _sample_rows(samples)
            markdown += [f"### {_md(variant.name)}, {_md(label)}", "", *_md_table(header, rows), ""]
            parts.append(f"<h3>{_e(label)}</h3>" + _html_table(header, rows, css="samples"))
        parts.append("</details>")
    return Section(markdown, "".join(parts))


def _sample_rows(samples: Sequence[AnswerSample]) -> tuple[list[str], list[list[str]]]:
    judges: list[str] = []
    for sample in samples:
        judges += [j for j in sample.labels if j not in judges]
    header = ["category", "prompt", "answer", *judges]
    rows = [
        [s.category or "-", s.prompt, s.answer, *(s.labels.get(j, "-") for j in judges)]
        for s in samples
    ]
    return header, rows


def _stages(summary: RunSummary) -> Section | None:
    if not summary.stages:
        return None
    rows = [
        [s.name, s.status, f"{s.seconds:.1f}", s.config_hash, ", ".join(s.outputs) or "-"]
        for s in summary.stages
    ]
    return _table_section(
        "Stages", "", ["stage", "status", "seconds", "config hash", "outputs"], rows
    )


def _config(summary: RunSummary) -> Section:
    import yaml  # only here: the rest of the report needs no YAML

    text = yaml.safe_dump(summary.config, sort_keys=False, allow_unicode=True)
    versions = [[name, version] for name, version in summary.versions.items()]
    table = _table_section("Package versions", "", ["package", "version"], versions)
    return Section(
        ["## Config", "", "```yaml", text.rstrip(), "```", "", *table.markdown],
        f"<h2>Config</h2><pre>{_e(text)}</pre>" + table.html,
    )


# -- rendering helpers -------------------------------------------------------------------------


STYLE = (
    "body{max-width:1200px}"
    ".warnings{border:2px solid #c0392b;background:#fdecea;padding:0.2em 1em;margin:1em 0}"
    ".warnings h2{color:#c0392b;margin:0.4em 0}.warnings li{margin:0.3em 0}"
    "th{background:#f0f0f0;text-align:left}td.num{white-space:nowrap}"
    "table.samples td{vertical-align:top;white-space:pre-wrap;max-width:420px}"
    "table.targets td:last-child{font-weight:bold}"
    "pre{background:#f6f6f6;padding:0.8em;overflow-x:auto;font-size:85%}"
    "details{margin:0.6em 0}summary{font-weight:bold;cursor:pointer;font-size:110%}"
    "p.intro{color:#555;font-size:90%}.ci{display:block;color:#666;font-size:85%;"
    "white-space:nowrap}.muted{color:#999}tr.baseline{background:#f7f7f7}"
    ".missed{color:#c0392b}.met{color:#1e8449}"
)


def _table_section(
    title: str,
    intro: str,
    header: list[str],
    rows: Sequence[Sequence[Cell]],
    css: str = "",
    row_css: Sequence[str] = (),
) -> Section:
    markdown = [f"## {title}", ""] + ([_md(intro), ""] if intro else [])
    markdown += [*_md_table(header, rows), ""]
    page = f"<h2>{_e(title)}</h2>" + (f"<p class='intro'>{_e(intro)}</p>" if intro else "")
    return Section(markdown, page + _html_table(header, rows, css, row_css))


def _html_table(
    header: list[str], rows: Sequence[Sequence[Cell]], css: str = "", row_css: Sequence[str] = ()
) -> str:
    cls = f" class='{css}'" if css else ""
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"
    body = ""
    for number, row in enumerate(rows):
        shade = row_css[number] if number < len(row_css) else ""
        body += f"<tr class='{shade}'>" if shade else "<tr>"
        body += "".join(f"<td>{c.html if isinstance(c, Rich) else _e(c)}</td>" for c in row)
        body += "</tr>"
    return f"<table{cls}>{head}{body}</table>"


def _md_table(header: list[str], rows: Sequence[Sequence[Cell]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(_md(c.text if isinstance(c, Rich) else c) for c in row) + " |"
        for row in rows
    ]
    return lines


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell: HTML escaped, pipes escaped, one line."""
    escaped = html.escape(str(text)).replace("|", "\\|")
    return escaped.replace("\r\n", "\n").replace("\n", "<br>")


def _e(text: object) -> str:
    return html.escape(str(text))


def _rate(rate: Rate | None) -> str:
    if rate is None or rate.value is None:
        return "not measured"
    return f"{rate.value:.3f} [{rate.low:.3f}, {rate.high:.3f}] (n={rate.total})"


def _rate_cell(rate: Rate | None) -> Rich:
    """The value in bold, its interval and count under it in grey."""
    if rate is None or rate.value is None:
        return Rich("not measured", "<span class='muted'>not measured</span>")
    return Rich(
        _rate(rate),
        f"<b>{rate.value:.3f}</b> <span class='ci'>[{rate.low:.3f}, {rate.high:.3f}] "
        f"(n={rate.total})</span>",
    )


def _variant_name(variant: VariantResult, summary: RunSummary) -> str:
    marks = [variant.kind] if variant.kind == "baseline" else []
    if variant.name == summary.best_variant:
        marks.append("best")
    return variant.name + (f" ({', '.join(marks)})" if marks else "")


def _joined(values) -> str:
    unique: list[str] = []
    for value in values:
        if value not in unique:
            unique.append(value)
    return "/".join(unique)


def _write(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
