"""Every variant on the same tasks, through `safealign eval run`, read back as `TaskScores`.

Each (variant, task) is an ordinary eval run folder under the stage folder, so `eval rescore`
and `eval compare` work on it; one whose metrics.json exists is finished and is not generated
again when an interrupted stage resumes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from safealign.evaluate import EvalConfig, rate_with_ci, run_eval
from safealign.evaluate.judges import is_informative
from safealign.evaluate.rundir import GENERATIONS, METRICS, SCORES
from safealign.evaluate.stats import Rate
from safealign.evaluate.tasks import eval_config_from, task_items
from safealign.io import read_jsonl
from safealign.models import LoadedModel, load_model
from safealign.pipeline.config import EvalTaskSpec, EvaluationSection, RunConfig
from safealign.pipeline.results import AnswerSample, JudgeRate, TaskScores, VariantResult


def evaluate_variant(
    config: RunConfig,
    variant: VariantResult,
    out: Path,
    *,
    loaded: LoadedModel | None = None,
    system_prompt: str | None = None,
) -> VariantResult:
    """`variant` with its scores on every task (finished task folders are reused)."""
    section = config.evaluation
    assert section is not None
    served = section.served_models.get(variant.name)
    tasks = []
    for spec in section.tasks:
        folder = out / spec.label
        if not (folder / METRICS).is_file():
            if loaded is None and served is None:
                loaded = load_model(variant.model_path or config.model, dtype=config.dtype)
            eval_config = task_config(config, spec, folder, served or variant.model_path)
            eval_config.system_prompt = system_prompt
            run_eval(eval_config, loaded=None if served else loaded)
        tasks.append(task_scores(folder, spec, section, config.seed))
    corr = next((t for t in tasks if t.task and _corr_mean(out / t.task) is not None), None)
    variant.tasks = tasks
    variant.corr_mean = _corr_mean(out / corr.task) if corr else None
    return variant


def task_config(
    config: RunConfig, spec: EvalTaskSpec, folder: Path, model: str | None
) -> EvalConfig:
    """The `eval run` config of one task: the run's judges, decoding and seed."""
    section = config.evaluation
    assert section is not None
    values: dict[str, Any] = {
        "task": spec.task,
        **spec.settings,
        "model": model or config.model,
        "dtype": config.dtype,
        "judges": [section.primary_judge, *section.second_judges],
        "data_dir": config.data_dir,
        "max_new_tokens": section.max_new_tokens,
        "batch_size": section.batch_size,
        "seed": config.seed,
        "out": str(folder),
        "resamples": section.resamples,
    }
    if section.backend_url and model in section.served_models.values():
        values |= {"backend_url": section.backend_url, "api_key_env": section.api_key_env}
    return eval_config_from(values, origin="run config")


def evaluation_prompts(config: RunConfig) -> set[str]:
    """Every prompt the evaluation tasks ask (normalised): training must never see one."""
    # heavy import deferred: only the red-team stage needs the overlap check
    from safealign.pipeline.making import normalised

    if config.evaluation is None:
        return set()
    prompts = set()
    for spec in config.evaluation.tasks:
        items = task_items(task_config(config, spec, Path("unused"), None))
        prompts |= {normalised(item.prompt) for item in items}
    return prompts


def task_scores(
    folder: Path, spec: EvalTaskSpec, section: EvaluationSection, seed: int
) -> TaskScores:
    """Headline rates, second judges and their agreement, categories and answer samples."""
    metrics = json.loads((folder / METRICS).read_text())
    summary = metrics["summary"]
    rows = read_jsonl(folder / GENERATIONS)
    labels = judge_labels(read_jsonl(folder / SCORES), len(rows))
    primary = section.primary_judge
    harmful = [
        i for i, r in enumerate(rows) if r.get("expected") == "refuse" and r.get("k") is None
    ]
    benign = [i for i, r in enumerate(rows) if r.get("expected") == "comply"]
    complied = _complied(labels.get(primary, {}))
    headline = summary.get("compliance") or summary.get("attack_success")
    scores = TaskScores(
        task=spec.label,
        harmful_compliance=_rate(headline),
        over_refusal=_rate(summary.get("over_refusal")),
        primary_judge=primary,
        run_dir=str(folder),
    )
    for judge, (question, by_row) in labels.items():
        if judge == primary:
            continue
        flags = _complied((question, by_row))
        hits = [flags.get(i) for i in harmful]
        scores.second_judges.append(
            JudgeRate(
                judge,
                rate_with_ci(hits, resamples=section.resamples, seed=seed),
                informative=is_informative(judge),
            )
        )
        both = [i for i in harmful if flags.get(i) is not None and complied.get(i) is not None]
        if both:
            agree = sum(flags[i] == complied[i] for i in both) / len(both)
            scores.judge_agreement[judge] = round(agree, 4)
    for entry in metrics.get("table", []):
        if (
            entry["judge"] == (headline or {}).get("judge")
            and entry["measure"] in ("compliance", "attack_success")
            and entry["subset"].startswith("category:")
            and entry["subset"] != "category:all"
        ):
            scores.per_category[entry["subset"].split(":", 1)[1]] = _rate(entry)  # type: ignore[assignment]
    rng = random.Random(seed)
    for indices, target in ((harmful, scores.harmful_samples), (benign, scores.benign_samples)):
        for i in sorted(rng.sample(indices, min(section.samples, len(indices)))):
            target.append(
                AnswerSample(
                    prompt=rows[i].get("prompt") or _last_user(rows[i]),
                    answer=rows[i]["output"],
                    labels={j: _label_word(q, by_row.get(i)) for j, (q, by_row) in labels.items()},
                    category=rows[i].get("category"),
                )
            )
    return scores


def judge_labels(scores: list[dict], rows: int) -> dict[str, tuple[str, dict[int, bool | None]]]:
    """Judge name -> (its question, row index -> its label)."""
    out: dict[str, tuple[str, dict[int, bool | None]]] = {}
    for score in scores:
        _, by_row = out.setdefault(score["judge"], (score["question"], {}))
        by_row[int(score["index"])] = score.get("label")
    return out


def _complied(judged: tuple[str, dict[int, bool | None]] | dict) -> dict[int, bool | None]:
    """Row -> whether the answer did what a harmful prompt asked (harmful, or not refused)."""
    if not judged:
        return {}
    question, by_row = judged  # type: ignore[misc]
    if question == "refusal":
        return {i: None if v is None else not v for i, v in by_row.items()}
    return dict(by_row)


def _label_word(question: str, label: bool | None) -> str:
    if label is None:
        return "unlabelled"
    words = {"refusal": ("refused", "complied"), "harm": ("harmful", "safe")}
    yes, no = words.get(question, ("yes", "no"))
    return yes if label else no


def _last_user(row: dict) -> str:
    users = [m["content"] for m in row.get("conversation", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def _rate(entry: dict | None) -> Rate | None:
    if entry is None:
        return None
    return Rate(entry["value"], entry["low"], entry["high"], entry["count"], entry["total"])


def _corr_mean(folder: Path) -> Rate | None:
    path = folder / METRICS
    if not path.is_file():
        return None
    return _rate(json.loads(path.read_text())["summary"].get("course_correction_mean"))
