"""The run report from a hand-made RunSummary: what a reader sees, parsed back and checked."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from safealign.errors import ConfigError, DataError
from safealign.evaluate.stats import Rate
from safealign.pipeline.report import load_summary, run_warnings, write_run_report
from safealign.pipeline.results import (
    AnswerSample,
    GuardCurve,
    JudgeRate,
    RunSummary,
    StageRecord,
    TargetCheck,
    TaskScores,
    TrainingCurve,
    VariantResult,
)
from safealign.pipeline.screenshot import find_browser, screenshot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NASTY = '<script>alert("x")</script> & <b>bold</b> | pipe'


def rate(value: float, total: int = 50) -> Rate:
    return Rate(value, max(0.0, value - 0.1), min(1.0, value + 0.1), round(value * total), total)


def samples(kind: str, variant: str) -> list[AnswerSample]:
    # Prompts and answers are placeholders (no harmful text), with HTML-special characters.
    return [
        AnswerSample(
            prompt=f"{kind} prompt {i} of {variant} {NASTY}",
            answer=f"I can't help with that. {NASTY}\nsecond line" if i % 2 else f"Sure: {i} <i>",
            labels={"refusal-keyword": "refused" if i % 2 else "complied", "harm-guard": "safe"},
            category="Violence" if i % 3 else None,
        )
        for i in range(10)
    ]


def task_scores(task: str, variant: str, harm: float, refusal: float, guard: float) -> TaskScores:
    return TaskScores(
        task=task,
        harmful_compliance=rate(harm),
        over_refusal=rate(refusal, 30),
        primary_judge="refusal-keyword",
        second_judges=[
            JudgeRate("harm-guard@embedded", rate(guard)),
            JudgeRate("harm-llm", rate(0.0), informative=False),
        ],
        judge_agreement={"harm-guard@embedded": 0.8},
        per_category={"Violence": rate(harm, 10), "Drugs & <weapons>": rate(harm / 2, 10)}
        if task == "suite"
        else {},
        harmful_samples=samples("harmful", variant),
        benign_samples=samples("benign", variant),
    )


def hand_made_summary(run_dir: Path, curves: bool = True) -> RunSummary:
    variants = [
        VariantResult("untouched", "baseline", "the model as given", None),
        VariantResult("system-prompt", "baseline", "a safety system prompt", None),
        VariantResult("bfpo", "trained", "BFPO LoRA, 80 steps <lr=1e-4>", "runs/x/bfpo"),
    ]
    figures = {  # variant -> task -> (harmful compliance, over-refusal, guard's rate)
        "untouched": {"suite": (0.92, 0.05, 0.60), "advbench": (0.99, 0.05, 0.95)},
        "system-prompt": {"suite": (0.60, 0.10, 0.55), "advbench": (0.76, 0.12, 0.70)},
        "bfpo": {"suite": (0.64, 0.16, 0.58), "advbench": (0.40, 0.15, 0.38)},
    }
    for variant in variants:
        for task, (harm, refusal, guard) in figures[variant.name].items():
            variant.tasks.append(task_scores(task, variant.name, harm, refusal, guard))
    variants[2].corr_mean = rate(0.3)
    return RunSummary(
        name="hand-made",
        run_dir=str(run_dir),
        config={"model": "embedded", "train": {"steps": 80, "loss": "bfpo"}},
        versions={"safealign": "0.1", "python": "3.11"},
        started="2026-12-02T07:00:00Z",
        finished="2026-12-02T07:40:00Z",
        stages=[
            StageRecord("baseline", "done", 120.5, "ab12", ["baseline/"]),
            StageRecord("train", "cached", 0.0, "cd34"),
        ],
        variants=variants,
        best_variant="bfpo",
        best_model_path="runs/x/bfpo",
        training_curves=[TrainingCurve("bfpo", [1, 2, 3], {"loss": [1.0, 0.7, 0.5]})]
        if curves
        else [],
        guard_curves=[
            GuardCurve("embedded", "xstest", [0.5, 0.7, 1.0], [1.0, 0.6, 0.1], 0.7, 0.6, 0.5)
        ]
        if curves
        else [],
        targets=[TargetCheck("suite harmful compliance <= 0.10", "bfpo", 0.64, 0.10, False)],
        warnings=["a warning the runner wrote"],
    )


class Page(HTMLParser):
    """What a browser would build: images, tables (rows of cell texts), headings, all text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src", ""))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)

    def table_after(self, heading: str) -> list[list[str]]:
        """The table whose header row follows `heading` (tables in page order)."""
        titles = [h for h in self.headings if h in TABLE_TITLES]
        return self.tables[titles.index(heading)]


TABLE_TITLES = ("Variants", "Second judges of harmful compliance", "Targets")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    summary = hand_made_summary(run_dir)
    written = write_run_report(summary, run_dir)
    return summary, run_dir, written


def test_every_plot_is_an_embedded_png_and_nothing_is_fetched(rendered):
    _, run_dir, written = rendered
    page = Page((run_dir / "report.html").read_text(encoding="utf-8"))
    # tradeoff, suite's categories (advbench has none), one training curve, guard PR
    assert len(page.images) == 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert not {"link", "script", "iframe"} & set(page.tags)
    pngs = sorted(p.name for p in written if p.suffix == ".png")
    assert pngs == ["categories-suite.png", "guard-pr.png", "tradeoff.png", "training-bfpo.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in written if p.suffix == ".png")


def test_tables_have_one_row_per_variant(rendered):
    _, run_dir, _ = rendered
    page = Page((run_dir / "report.html").read_text(encoding="utf-8"))
    variants = page.table_after("Variants")
    header, rows = variants[0], variants[1:]
    assert [r[0] for r in rows] == [
        "untouched (baseline)",
        "system-prompt (baseline)",
        "bfpo (best)",
    ]
    assert header[2] == "suite: harmful compliance (refusal-keyword)"
    assert rows[2][2] == "0.640 [0.540, 0.740] (n=50)"  # bfpo, suite, with its interval
    assert header[-1] == "Corr_mean" and rows[0][-1] == "not measured"
    second = page.table_after("Second judges of harmful compliance")
    assert [r[0] for r in second[1:]] == ["untouched", "system-prompt", "bfpo"]
    assert "harm-llm (not informative)" in second[3][1]
    assert "harm-guard@embedded: 0.580" in second[3][1] and "agrees on 80%" in second[3][1]
    targets = page.table_after("Targets")
    assert targets[1] == ["suite harmful compliance <= 0.10", "bfpo", "0.640", "0.100", "MISSED"]


def test_samples_are_escaped_and_every_judge_label_is_shown(rendered):
    _, run_dir, _ = rendered
    raw = (run_dir / "report.html").read_text(encoding="utf-8")
    page = Page(raw)
    assert "<script>" not in raw and "<b>bold</b>" not in raw
    assert "script" not in page.tags  # the sample's <b> is text too (checked just above)
    sample_tables = [t for t in page.tables if t[0][:3] == ["category", "prompt", "answer"]]
    assert len(sample_tables) == 3 * 2 * 2  # variants x tasks x (harmful, benign)
    first = sample_tables[0]
    assert first[0][3:] == ["refusal-keyword", "harm-guard"] and len(first) == 11
    assert first[1][1] == f"harmful prompt 0 of untouched {NASTY}"  # text survives, as text


def test_warnings_come_first_with_those_derived_from_the_figures(rendered):
    _, run_dir, _ = rendered
    raw = (run_dir / "report.html").read_text(encoding="utf-8")
    assert raw.index("class='warnings'") < raw.index("<h2>Variants</h2>")
    page = Page(raw)
    assert page.headings[:3] == ["safealign run: hand-made", "Warnings", "Variants"]
    text = "".join(page.text)
    assert "a warning the runner wrote" in text
    assert "bfpo does not beat the safety system prompt on suite" in text  # 0.64 >= 0.60
    assert "bfpo does not beat the safety system prompt on advbench" not in text  # 0.40 < 0.76
    assert "untouched on suite: judges disagree by 32 points" in text  # 0.92 vs 0.60
    assert "bfpo on suite: judges disagree" not in text  # 0.64 vs 0.58: within 10 points
    assert "harm-llm" not in text.split("Variants")[0]  # not informative: never a warning
    assert "target missed: suite harmful compliance <= 0.10 (bfpo)" in text
    # the verdict on the targets leads, before what only the runner wrote
    assert text.index("targets: no made variant meets all 1") < text.index("a warning the runner")
    # baseline ran 120.5 s, train was cached at 0 s
    assert "stages' own time: 2.0 min for 2 stages (1 of them cached from an earlier run)" in text


def test_the_verdict_on_the_targets_leads_and_judge_details_come_last(tmp_path):
    summary = hand_made_summary(tmp_path)
    lines = run_warnings(summary)
    assert lines[0] == (
        "targets: no made variant meets all 1; the closest, bfpo, meets 0 of 1 and misses "
        "suite harmful compliance <= 0.10 (measured 0.640)."
    )
    # one disagreement (untouched on suite, 0.92 against 0.60) among 3 variants x 2 tasks
    assert lines[1].startswith(
        "judges disagree by more than 10 points on harmful compliance in 1 of 6 (variant, task)"
    )
    assert lines[-1].startswith("untouched on suite: judges disagree by 32 points")
    summary.targets[0].met = True
    assert run_warnings(summary)[0] == "targets: all 1 met by bfpo."
    # No best variant: the verdict names the closest one's misses, the lines per target go
    # (the Targets table has every check).
    summary.targets[0].met = False
    summary.best_variant = None
    lines = run_warnings(summary)
    assert lines[0].startswith("targets: no made variant meets all 1; the closest, bfpo")
    assert any("no made variant keeps over-refusal within the limit" in line for line in lines)
    assert not any(line.startswith("target missed") for line in lines)


def test_markdown_has_the_same_rows_and_sections(rendered):
    _, run_dir, _ = rendered
    markdown = (run_dir / "report.md").read_text(encoding="utf-8")
    section = markdown.split("## Variants")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert [r.split(" | ")[0][2:] for r in rows] == [
        "untouched (baseline)",
        "system-prompt (baseline)",
        "bfpo (best)",
    ]
    assert markdown.index("## Warnings") < markdown.index("## Variants")
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert "\\| pipe" in markdown  # a pipe inside a cell does not split it
    assert "![harmful compliance vs over-refusal](report_plots/tradeoff.png)" in markdown
    assert "```yaml\nmodel: embedded" in markdown


def test_summary_json_round_trips(rendered):
    summary, run_dir, _ = rendered
    data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert RunSummary.from_dict(data) == summary
    assert load_summary(run_dir) == summary


def test_a_summary_without_curves_renders_without_their_sections(tmp_path):
    summary = hand_made_summary(tmp_path)
    write_run_report(summary, tmp_path)  # first with every plot
    bare = hand_made_summary(tmp_path, curves=False)
    for variant in bare.variants:
        for scores in variant.tasks:
            scores.per_category = {}
    written = write_run_report(bare, tmp_path)
    page = Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert len(page.images) == 1  # the tradeoff plot only
    for gone in ("Training curves", "Guard precision-recall", "Harmful compliance per category"):
        assert gone not in page.headings
    assert sorted(p.name for p in (tmp_path / "report_plots").iterdir()) == ["tradeoff.png"]
    assert [p.name for p in written if p.suffix == ".png"] == ["tradeoff.png"]


def test_an_empty_summary_still_renders_its_config(tmp_path):
    empty = RunSummary(
        "empty", str(tmp_path), {"model": "embedded"}, {"python": "3.11"}, "t0", None
    )
    write_run_report(empty, tmp_path)
    page = Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert page.images == [] and "Variants" not in page.headings and "Warnings" not in page.headings
    assert "Config" in page.headings and "not finished" in "".join(page.text)


def test_an_uninformative_judge_raises_no_disagreement(tmp_path):
    summary = hand_made_summary(tmp_path)
    lines = run_warnings(summary)
    assert not any("harm-llm" in line for line in lines)  # its 0.0 is 92 points from 0.92
    summary.variants[0].tasks[0].second_judges[0].informative = False
    assert not any(line.startswith("untouched on suite") for line in run_warnings(summary))


def test_loading_a_folder_without_a_summary_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="no summary.json here") as info:
        load_summary(tmp_path)
    assert "safealign run" in str(info.value)
    (tmp_path / "summary.json").write_text('{"name": "x"}')
    with pytest.raises(DataError, match="not a run summary written by safealign"):
        load_summary(tmp_path)


def test_the_report_verb_renders_again_from_summary_json(rendered, tmp_path, monkeypatch):
    import sys

    from safealign.cli import main

    summary, _, _ = rendered
    (tmp_path / "summary.json").write_text(json.dumps(summary.to_dict()), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["safealign", "report", str(tmp_path)])
    main()  # returns on success (errors exit 2)
    assert len(Page((tmp_path / "report.html").read_text(encoding="utf-8")).images) == 4


@pytest.mark.skipif(
    find_browser() is None, reason="no Chromium on PATH (Debian: apt-get install -y chromium)"
)
def test_a_browser_shows_the_report_with_its_warnings_box_and_plots(rendered, tmp_path):
    from PIL import Image

    _, run_dir, _ = rendered
    shot = screenshot(run_dir / "report.html", tmp_path / "shot.png", height=3000)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 3000) and shot.stat().st_size > 50_000
    colours = dict((rgb, n) for n, rgb in image.getcolors(maxcolors=1 << 20))
    assert len(colours) > 50  # text, tables, plots: not a blank page
    assert colours.get((255, 255, 255), 0) < 0.95 * 1280 * 3000
    assert colours.get((0xFD, 0xEC, 0xEA), 0) > 10_000  # the warnings box's background
    assert colours.get((0x1F, 0x77, 0xB4), 0) > 500  # matplotlib's first colour: plots drawn


def test_a_screenshot_without_a_browser_says_how_to_get_one(rendered, tmp_path, monkeypatch):
    import shutil

    _, run_dir, _ = rendered
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install -y chromium"):
        screenshot(run_dir / "report.html", tmp_path / "shot.png")
    assert not (tmp_path / "shot.png").exists()


def test_without_a_best_variant_the_first_made_one_shows_its_answers(tmp_path):
    summary = hand_made_summary(tmp_path)
    summary.best_variant = None
    write_run_report(summary, tmp_path)
    raw = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert raw.count("<details open>") == 1
    assert "<details open><summary>bfpo</summary>" in raw  # not the untouched baseline


def test_the_run_names_each_file_it_wrote_once(tmp_path):
    from safealign.pipeline.runner import write_summary_and_report

    written = write_summary_and_report(hand_made_summary(tmp_path), tmp_path)
    assert len(written) == len(set(written))
    assert {p.name for p in written} >= {"summary.json", "report.html", "report.md"}
