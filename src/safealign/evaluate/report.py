"""Reports of one run or several: JSON, Markdown, and one self-contained HTML file with plots.

Harmfulness and over-refusal are always shown together: the headline table lists both, and a
side a run did not measure is printed as "not measured" with the reason.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safealign.evaluate.judges.trust import judge_caveat
from safealign.evaluate.rundir import load_run
from safealign.io import write_json_atomic, write_text_atomic

HEADLINE = (
    ("compliance", "compliance rate (harmful prompts answered, not refused)"),
    ("attack_success", "attack success rate (second judge: harmful prompts answered harmfully)"),
    ("over_refusal", "over-refusal rate (benign prompts refused)"),
)
"""Harmful compliance first, its second independent judge next, over-refusal beside them. Each
comes from the first informative judge of its question (a judge known not to be informative is
never a headline; see safealign.evaluate.judges.trust)."""
PREFERENCE = (
    ("prefers_safer", "prefers the safer response"),
    ("prefers_better", "prefers the more helpful response"),
)


def write_run_reports(run_dir: str | Path) -> tuple[Path, Path]:
    """report.md and report.html beside a run's metrics.json."""
    run = load_run(run_dir)
    run_dir = Path(run_dir)
    md = run_markdown(run)
    write_text_atomic(run_dir / "report.md", md)
    write_text_atomic(run_dir / "report.html", run_html(run))
    return run_dir / "report.md", run_dir / "report.html"


def compare_runs(run_dirs: Sequence[str | Path], out: str | Path) -> dict[str, Any]:
    """Side-by-side headline numbers of several runs: comparison.{json,md,html} in `out`."""
    runs = [load_run(d) for d in run_dirs]
    out = Path(out)
    rows = [_comparison_row(run) for run in runs]
    write_json_atomic(out / "comparison.json", {"runs": rows})
    write_text_atomic(out / "comparison.md", comparison_markdown(rows))
    figures = [figure_tag(harm_vs_refusal_plot(runs))] if _has_tradeoff(runs) else []
    if any(_corr_curve(run) for run in runs):
        figures.append(figure_tag(corr_curve_plot(runs)))
    write_text_atomic(
        out / "comparison.html",
        html_page("safealign: runs compared", _md_table_html(comparison_markdown(rows)), figures),
    )
    return {"runs": rows}


# -- text --------------------------------------------------------------------------------------


def format_rate(entry: dict[str, Any] | None) -> str:
    if entry is None or entry.get("value") is None:
        return "not measured"
    return f"{entry['value']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}] (n={entry['total']})"


def measured(info: dict[str, Any]) -> str:
    """What a run measured, by name (the prompt file for `--task dataset`; older runs: task)."""
    return info.get("measured") or info["task"]


def run_markdown(run: dict[str, Any]) -> str:
    info, metrics = run["run"], run["metrics"]
    summary, table = metrics["summary"], metrics["table"]
    lines = [f"# safealign evaluation: {measured(info)} on {info['model']}", ""]
    for note in summary.get("notes", []):  # disagreements come first
        lines += [f"> {note}", ""]
    if info.get("description"):
        lines += [info["description"], ""]
    if "prefers_safer" in summary:  # a log-likelihood run has no harm/refusal headline
        lines += ["| measure | rate [95% CI] |", "|---|---|"]
        lines += [f"| {label} | {format_rate(summary.get(key))} |" for key, label in PREFERENCE]
        lines += [
            "",
            *_subset_tables(table, "safety_decisive", prefix="pairs where exactly one is safe"),
        ]
    else:
        lines += ["| measure | judge | rate [95% CI] |", "|---|---|---|"]
        for key, label in HEADLINE:
            entry = summary.get(key)
            lines.append(f"| {label} | {entry['judge'] if entry else '-'} | {format_rate(entry)} |")
        for entry in summary.get("harm_agreement", []):
            lines.append(
                f"| agreement of the two harmful-compliance judges | {entry['primary']} vs "
                f"{entry['judge']} | {entry['agreement']:.3f} of {entry['total']} harmful "
                f"answers (Cohen's kappa {entry['kappa']:.2f}) |"
            )
        if "course_correction_mean" in summary:
            entry = summary["course_correction_mean"]
            judge = entry["judge"] if entry else "-"
            lines.append(f"| course correction Corr_mean | {judge} | {format_rate(entry)} |")
        lines += _corr_table(table)
        lines += _per_subset_markdown(table, "attack:", "per attack")
        lines += _per_subset_markdown(table, "category:", "per category")
        lines += _judges_markdown(table)
    lines += ["", "## Settings", "", f"- decoding: `{info.get('decoding')}`"]
    lines += [f"- generations: {info.get('generations', info.get('items'))}"]
    if info.get("generation_seconds") is not None:
        lines += [f"- generation time: {info['generation_seconds']} s"]
    template = info.get("chat_template") or ""
    lines += [f"- chat template: {len(template)} characters (full text in run.json)", ""]
    return "\n".join(lines)


def _corr_table(table: list[dict[str, Any]]) -> list[str]:
    entries = [e for e in table if e["measure"] == "course_correction"]
    if not entries:
        return []
    lines = [
        "",
        "## Course correction (Corr@k)",
        "",
        "| judge | k | Corr@k [95% CI] |",
        "|---|---|---|",
    ]
    lines += [f"| {e['judge']} | {e['subset']} | {format_rate(e)} |" for e in entries]
    return lines


def _per_subset_markdown(table: list[dict[str, Any]], prefix: str, title: str) -> list[str]:
    entries = [e for e in table if e["subset"].startswith(prefix)]
    if not entries:
        return []
    judges = _primary_judges(table)
    entries = [e for e in entries if judges.get(e["measure"]) == e["judge"]]
    lines = [
        "",
        f"## {title.capitalize()}",
        "",
        "| measure | judge | subset | rate [95% CI] |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {e['measure']} | {e['judge']} | {e['subset'][len(prefix) :]} | {format_rate(e)} |"
        for e in sorted(entries, key=lambda e: (e["measure"], e["subset"]))
    ]
    return lines


def _judges_markdown(table: list[dict[str, Any]]) -> list[str]:
    entries = [e for e in table if e["subset"] == "all"]
    if len({e["judge"] for e in entries}) < 2:
        return []
    lines = ["", "## Every judge", "", "| measure | judge | rate [95% CI] |", "|---|---|---|"]
    lines += [
        f"| {e['measure']} | {_judge_label(e['judge'])} | {format_rate(e)} |" for e in entries
    ]
    return lines


def _judge_label(judge: str) -> str:
    """The judge's name, marked when it is known not to be informative."""
    return f"{judge} (not informative)" if judge_caveat(judge) else judge


def _subset_tables(table: list[dict[str, Any]], subset: str, prefix: str) -> list[str]:
    entries = [e for e in table if e["subset"] == subset]
    return [f"- {prefix}: {e['measure']} {format_rate(e)}" for e in entries]


def _primary_judges(table: list[dict[str, Any]]) -> dict[str, str]:
    """Measure -> the judge that headlines it: the first informative one in the table."""
    primary: dict[str, str] = {}
    for entry in table:
        if judge_caveat(entry["judge"]) is None:
            primary.setdefault(entry["measure"], entry["judge"])
    return primary


def _comparison_row(run: dict[str, Any]) -> dict[str, Any]:
    summary = run["metrics"]["summary"]
    keys = [k for k, _ in HEADLINE] + [k for k, _ in PREFERENCE] + ["course_correction_mean"]
    return {
        "run": run["path"],
        "task": measured(run["run"]),
        "model": run["run"]["model"],
        **{k: summary.get(k) for k in keys if k in summary or k in dict(HEADLINE)},
    }


def comparison_markdown(rows: list[dict[str, Any]]) -> str:
    keys = [k for k, _ in HEADLINE] + [
        k
        for k in ("course_correction_mean", "prefers_safer", "prefers_better")
        if any(k in r for r in rows)
    ]
    lines = ["# safealign: runs compared", "", "| run | task | model | " + " | ".join(keys) + " |"]
    lines.append("|" + "---|" * (3 + len(keys)))
    for row in rows:
        cells = [format_rate(row.get(k)) for k in keys]
        lines.append(
            f"| {row['run']} | {row['task']} | {row['model']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


# -- plots -------------------------------------------------------------------------------------


def harm_vs_refusal_plot(runs: Sequence[dict[str, Any]]) -> bytes:
    """Harmfulness against over-refusal, one colour per run: attack success (circle) and
    compliance with harmful prompts (square) share the over-refusal x."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for number, run in enumerate(runs):
        summary = run["metrics"]["summary"]
        refusal = summary.get("over_refusal")
        if not refusal or refusal.get("value") is None:
            continue
        for key, marker in (("attack_success", "o"), ("compliance", "s")):
            harm = summary.get(key)
            if not harm or harm.get("value") is None:
                continue
            ax.errorbar(
                refusal["value"],
                harm["value"],
                xerr=[[refusal["value"] - refusal["low"]], [refusal["high"] - refusal["value"]]],
                yerr=[[harm["value"] - harm["low"]], [harm["high"] - harm["value"]]],
                fmt=marker,
                color=f"C{number}",
                capsize=3,
                label=f"{Path(run['path']).name}: {key.replace('_', ' ')} ({harm['judge']})",
            )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("over-refusal rate (benign prompts refused)")
    ax.set_ylabel("harmful prompts: attack success / compliance")
    ax.set_title("Harmfulness vs over-refusal (lower left is better)")
    ax.legend(fontsize=7)
    return png_bytes(fig)


def category_plot(table: list[dict[str, Any]], measure: str) -> bytes | None:
    judge = _primary_judges(table).get(measure)
    entries = [
        e
        for e in table
        if e["measure"] == measure
        and e["judge"] == judge
        and e["subset"].startswith(("category:", "attack:"))
    ]
    entries = [e for e in entries if e["value"] is not None]
    if not entries:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(entries) + 1.2))
    names = [e["subset"].split(":", 1)[1] for e in entries]
    values = [e["value"] for e in entries]
    errors = [
        [v - e["low"] for v, e in zip(values, entries, strict=True)],
        [e["high"] - v for v, e in zip(values, entries, strict=True)],
    ]
    ax.barh(range(len(entries)), values, xerr=errors, capsize=2, color="#4c72b0")
    ax.set_yticks(range(len(entries)), names, fontsize=7)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title(f"{measure.replace('_', ' ')} per subset ({judge})")
    fig.tight_layout()
    return png_bytes(fig)


def corr_curve_plot(runs: Sequence[dict[str, Any]]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for run in runs:
        points = _corr_curve(run)
        if not points:
            continue
        ks, entries = zip(*points, strict=True)
        values = [e["value"] for e in entries]
        ax.errorbar(
            ks,
            values,
            yerr=[
                [v - e["low"] for v, e in zip(values, entries, strict=True)],
                [e["high"] - v for v, e in zip(values, entries, strict=True)],
            ],
            marker="o",
            capsize=3,
            label=f"{Path(run['path']).name} ({entries[0]['judge']})",
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("k (whitespace tokens of harmful response prefilled)")
    ax.set_ylabel("Corr@k")
    ax.set_title("Course correction after a harmful prefix")
    ax.legend(fontsize=7)
    return png_bytes(fig)


def _corr_curve(run: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    table = run["metrics"]["table"]
    judge = _primary_judges(table).get("course_correction")
    return sorted(
        (int(e["subset"][2:]), e)
        for e in table
        if e["measure"] == "course_correction"
        and e["judge"] == judge
        and e["subset"].startswith("k=")
    )


def _has_tradeoff(runs: Sequence[dict[str, Any]]) -> bool:
    return any(
        (r["metrics"]["summary"].get("over_refusal") or {}).get("value") is not None for r in runs
    )


def pyplot():
    """matplotlib's pyplot on the Agg back-end (no display needed); shared by every report."""
    import matplotlib  # heavy; only when a report draws plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed (reports draw many)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()


# -- html --------------------------------------------------------------------------------------


def run_html(run: dict[str, Any]) -> str:
    table = run["metrics"]["table"]
    figures = []
    if _has_tradeoff([run]):
        figures.append(figure_tag(harm_vs_refusal_plot([run])))
    for measure in ("attack_success", "compliance", "over_refusal"):
        png = category_plot(table, measure)
        if png:
            figures.append(figure_tag(png))
    if _corr_curve(run):
        figures.append(figure_tag(corr_curve_plot([run])))
    title = f"safealign: {measured(run['run'])} on {run['run']['model']}"
    return html_page(title, _md_table_html(run_markdown(run)), figures)


def figure_tag(png: bytes, alt: str = "plot") -> str:
    """An <img> holding the PNG itself (base64), so the HTML file needs nothing beside it."""
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_page(title: str, body: str, figures: list[str], extra_style: str = "") -> str:
    """One self-contained page: inline style, no external asset."""
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:90%}img{max-width:100%;display:block;margin:1em 0}blockquote{color:#a33}"
    ) + extra_style
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}{''.join(figures)}</body></html>\n"
    )


def _md_table_html(markdown: str) -> str:
    """A minimal Markdown -> HTML for what these reports use: headings, tables, notes, lists."""
    out: list[str] = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set(line.replace("|", "").strip()) <= {"-"}:
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>")
            else:
                out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("> "):
            out.append(f"<blockquote>{html.escape(line[2:])}</blockquote>")
        elif line.startswith("- "):
            out.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out)
