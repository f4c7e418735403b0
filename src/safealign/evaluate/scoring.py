"""Scoring a saved run: judges read generations.jsonl, never the model, and metrics follow.

Scores of other judges already in the run are kept unless `replace`; a judge scored again
replaces its earlier rows. The first judge per question (in saved order) leads the summary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safealign.errors import DataError
from safealign.evaluate.items import EvalItem
from safealign.evaluate.judges import JudgeInput, build_judge
from safealign.evaluate.metrics import compute_metrics
from safealign.evaluate.report import write_run_reports
from safealign.evaluate.rundir import GENERATIONS, METRICS, SCORES, RunResult
from safealign.io import read_jsonl, write_json_atomic, write_jsonl_atomic


def rescore(
    run_dir: str | Path,
    judges: Sequence[str],
    *,
    resamples: int = 2000,
    seed: int = 0,
    replace: bool = False,
) -> RunResult:
    """Score a saved run with `judges` (never regenerating), then rewrite metrics and reports."""
    run_dir = Path(run_dir)
    if not (run_dir / GENERATIONS).is_file():
        raise DataError(
            f"no {GENERATIONS} here",
            path=run_dir,
            fix="Pass a run directory written by `safealign eval run`.",
        )
    rows = read_jsonl(run_dir / GENERATIONS)
    try:
        inputs = [
            JudgeInput(
                conversation=EvalItem.from_record(row).conversation,
                output=row["output"],
                assistant_prefix=row.get("assistant_prefix") or "",
            )
            for row in rows
        ]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DataError(
            f"a row lacks the fields safealign writes ({exc!r})",
            path=run_dir / GENERATIONS,
            fix="Pass a run directory written by `safealign eval run`.",
        ) from exc
    existing = [] if replace or not (run_dir / SCORES).is_file() else read_jsonl(run_dir / SCORES)
    built = [build_judge(name) for name in judges]
    new_names = {judge.name for judge in built}
    kept = [s for s in existing if s["judge"] not in new_names]
    new_scores = []
    for judge in built:
        for index, score in enumerate(judge.score(inputs)):
            new_scores.append(
                {
                    "judge": judge.name,
                    "question": judge.question,
                    "index": index,
                    **dataclasses.asdict(score),
                }
            )
    all_scores = kept + new_scores
    write_jsonl_atomic(run_dir / SCORES, all_scores)
    metrics = metrics_for(rows, all_scores, resamples=resamples, seed=seed)
    write_json_atomic(run_dir / METRICS, metrics)
    write_run_reports(run_dir)
    return RunResult(run_dir, metrics)


def metrics_for(
    rows: list[dict[str, Any]], scores: list[dict[str, Any]], *, resamples: int, seed: int
) -> dict[str, Any]:
    by_judge: dict[str, list[dict[str, Any]]] = {}
    questions: dict[str, str] = {}
    for score in scores:
        by_judge.setdefault(score["judge"], []).append(score)
        questions[score["judge"]] = score["question"]
    for judge_scores in by_judge.values():
        judge_scores.sort(key=lambda s: s["index"])
    return compute_metrics(rows, by_judge, questions, resamples=resamples, seed=seed)
