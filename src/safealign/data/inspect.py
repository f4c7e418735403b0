"""What is in a dataset: label counts a user checks before training or evaluating on it.

`inspect_samples` counts; `render_summary` prints the counts as rich tables. The pair table uses
the (is_0_safe, is_1_safe, better, safer) key that SOURCE.md files and PKU-SafeRLHF papers use,
e.g. "(F,F,1,0) 189".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from safealign.data.loaders import LoadResult
from safealign.data.schema import SEVERITY_NAMES, Sample

PairKey = tuple[bool | None, bool | None, int | None, int | None]


@dataclass
class DataSummary:
    """Counts over one set of samples (see `inspect_samples`)."""

    source: str
    format: str | None
    rows: int
    skipped: int = 0
    prompts_harmful: int = 0
    prompts_benign: int = 0
    prompts_unknown: int = 0
    with_context: int = 0
    with_responses: int = 0
    pairs: int = 0
    responses: int = 0
    responses_safe: int = 0
    responses_unsafe: int = 0
    responses_unlabelled: int = 0
    refusals: int = 0
    pair_labels: Counter[PairKey] = field(default_factory=Counter)
    """(is_0_safe, is_1_safe, better, safer) -> number of pairs."""
    categories: Counter[str] = field(default_factory=Counter)
    """Category name -> number of samples whose prompt or any response carries it."""
    severity: Counter[int] = field(default_factory=Counter)
    taxonomies: Counter[str] = field(default_factory=Counter)


def inspect_samples(result: LoadResult | Iterable[Sample], source: str = "") -> DataSummary:
    """Count prompts, responses, safety bits, pair-label combinations, categories, severity."""
    skipped, fmt = 0, None
    if isinstance(result, LoadResult):
        source, skipped, fmt = source or result.source, len(result.skipped), result.format
        result = result.samples
    samples = list(result)
    summary = DataSummary(source=source, format=fmt, rows=len(samples), skipped=skipped)
    for sample in samples:
        _count(summary, sample)
    return summary


def _count(summary: DataSummary, sample: Sample) -> None:
    if sample.prompt_harmful is None:
        summary.prompts_unknown += 1
    elif sample.prompt_harmful:
        summary.prompts_harmful += 1
    else:
        summary.prompts_benign += 1
    summary.with_context += bool(sample.context)
    summary.with_responses += bool(sample.responses)
    summary.responses += len(sample.responses)
    for response in sample.responses:
        if response.is_safe is None:
            summary.responses_unlabelled += 1
        elif response.is_safe:
            summary.responses_safe += 1
        else:
            summary.responses_unsafe += 1
        summary.refusals += bool(response.refusal)
        if response.severity is not None:
            summary.severity[response.severity] += 1
    if sample.is_pair:
        summary.pairs += 1
        first, second = sample.responses
        summary.pair_labels[(first.is_safe, second.is_safe, sample.better, sample.safer)] += 1
    names = set(sample.prompt_categories)
    for response in sample.responses:
        names.update(response.categories)
    summary.categories.update(names)
    if sample.taxonomy:
        summary.taxonomies[sample.taxonomy] += 1


def pair_key_text(key: PairKey) -> str:
    """(False, False, 1, 0) -> "(F,F,1,0)"; unknown values print as "?"."""

    def show(value: bool | int | None) -> str:
        if value is None:
            return "?"
        if isinstance(value, bool):
            return "T" if value else "F"
        return str(value)

    return "(" + ",".join(show(v) for v in key) + ")"


def render_summary(summary: DataSummary, console: Console | None = None) -> None:
    """Print the summary as rich tables (overview, pair labels, severity, categories)."""
    console = console or Console()
    console.print(
        f"[bold]{summary.source}[/] (format {summary.format or 'unknown'})", highlight=False
    )
    overview = Table(title="overview", show_header=False)
    overview.add_column("what")
    overview.add_column("count", justify="right")
    for what, count in (
        ("rows", summary.rows),
        ("skipped rows", summary.skipped),
        ("prompts harmful", summary.prompts_harmful),
        ("prompts benign", summary.prompts_benign),
        ("prompts unlabelled", summary.prompts_unknown),
        ("with earlier turns", summary.with_context),
        ("with responses", summary.with_responses),
        ("pairs", summary.pairs),
        ("responses", summary.responses),
        ("responses safe", summary.responses_safe),
        ("responses unsafe", summary.responses_unsafe),
        ("responses without safety label", summary.responses_unlabelled),
        ("refusals", summary.refusals),
    ):
        overview.add_row(what, str(count))
    console.print(overview)
    if summary.pair_labels:
        pairs = Table(title="pair labels")
        pairs.add_column("(is_0_safe,is_1_safe,better,safer)")
        pairs.add_column("pairs", justify="right")
        for key, count in summary.pair_labels.most_common():
            pairs.add_row(pair_key_text(key), str(count))
        console.print(pairs)
    if summary.severity:
        levels = Table(title="response severity")
        levels.add_column("level")
        levels.add_column("responses", justify="right")
        for level in sorted(summary.severity):
            levels.add_row(f"{level} {SEVERITY_NAMES[level]}", str(summary.severity[level]))
        console.print(levels)
    if summary.categories:
        taxonomies = ", ".join(summary.taxonomies) or "no taxonomy"
        categories = Table(title=f"categories ({taxonomies})")
        categories.add_column("category")
        categories.add_column("samples", justify="right")
        for name, count in summary.categories.most_common():
            categories.add_row(name, str(count))
        console.print(categories)
