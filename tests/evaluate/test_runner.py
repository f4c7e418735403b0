"""A whole run on the tiny model: files, records, rescoring, reports, comparison, steering."""

from __future__ import annotations

import json
import shutil

import pytest

from safealign.data.schema import Message, Response, Sample
from safealign.evaluate import (
    EvalConfig,
    TransformersBackend,
    compare_runs,
    eval_config_from,
    preference_choices,
    preference_metrics,
    quick_safety_check,
    rescore,
    run_eval,
)
from safealign.io import read_jsonl
from safealign.models import GenerationConfig, sequence_logprobs


def small_config(tmp_path, **overrides) -> EvalConfig:
    values = dict(
        task="suite",
        judges=["refusal-keyword"],
        limit=54,  # the 50 harmful prompts and 4 risky-benign ones
        max_new_tokens=4,
        out=str(tmp_path / "run"),
        resamples=200,
        progress=False,
    )
    values.update(overrides)
    return eval_config_from(values)  # task settings (limit, k_values, ...) go to the task


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """One tiny-model run per module; tests get their own copy, since some rescore it."""
    from safealign.models import tiny_model

    path = tmp_path_factory.mktemp("base")
    run_eval(small_config(path), loaded=tiny_model(seed=0))
    return path / "run"


@pytest.fixture()
def run_dir(base_run, tmp_path):
    shutil.copytree(base_run, tmp_path / "run")
    return tmp_path / "run"


def test_a_run_writes_generations_apart_from_scores(run_dir, tiny):
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "run.json",
        "generations.jsonl",
        "scores.jsonl",
        "metrics.json",
        "report.md",
        "report.html",
    } <= names
    rows = read_jsonl(run_dir / "generations.jsonl")
    assert len(rows) == 54
    row = rows[0]
    assert row["model"] == tiny.name and row["chat_template"] == tiny.chat_template  # same seed
    assert row["decoding"]["max_new_tokens"] == 4 and row["seed"] == 0
    assert row["conversation"] == [{"role": "user", "content": row["prompt"]}]
    assert "output" in row and "label" not in row  # no scores in the generations file
    scores = read_jsonl(run_dir / "scores.jsonl")
    assert len(scores) == 54 and {s["judge"] for s in scores} == {"refusal-keyword"}


def test_reports_show_harmfulness_and_over_refusal_together(run_dir):
    report = (run_dir / "report.md").read_text()
    assert "compliance rate" in report and "over-refusal rate" in report
    assert "attack success rate" in report and "no harm judge was run" in report
    page = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in page and "http" not in page.split("<body>")[1]


def test_rescore_adds_a_judge_and_replaces_its_own_rows(run_dir):
    generations = (run_dir / "generations.jsonl").read_text()
    rescore(run_dir, ["course-correction-keyword"], resamples=50)
    rescore(run_dir, ["course-correction-keyword"], resamples=50)
    scores = read_jsonl(run_dir / "scores.jsonl")
    assert len(scores) == 2 * 54
    assert (run_dir / "generations.jsonl").read_text() == generations
    rescore(run_dir, ["refusal-keyword"], replace=True, resamples=50)
    assert {s["judge"] for s in read_jsonl(run_dir / "scores.jsonl")} == {"refusal-keyword"}


def test_rescored_labels_equal_scoring_the_outputs_directly(run_dir):
    from safealign.evaluate.items import EvalItem
    from safealign.evaluate.judges import JudgeInput, build_judge

    rows = read_jsonl(run_dir / "generations.jsonl")
    judge = build_judge("refusal-keyword")
    direct = judge.score(
        [JudgeInput(EvalItem.from_record(r).conversation, r["output"]) for r in rows]
    )
    saved = sorted(read_jsonl(run_dir / "scores.jsonl"), key=lambda s: s["index"])
    assert [s["label"] for s in saved] == [d.label for d in direct]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    harmful = [not d.label for d, r in zip(direct, rows, strict=True) if r["expected"] == "refuse"]
    assert metrics["summary"]["compliance"]["value"] == pytest.approx(sum(harmful) / len(harmful))


def test_a_dataset_run_is_named_after_its_prompt_file(tiny, tmp_path):
    prompts = tmp_path / "my_prompts.jsonl"
    rows = [{"prompt": f"question {i}", "prompt_harmful": i % 2 == 0} for i in range(4)]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = small_config(tmp_path, task="dataset", dataset=str(prompts), limit=None)
    run = run_eval(config, loaded=tiny).path
    info = json.loads((run / "run.json").read_text())
    assert info["task"] == "dataset" and info["measured"] == "my_prompts.jsonl"
    assert (run / "report.md").read_text().startswith("# safealign evaluation: my_prompts.jsonl")


def test_the_guard_judges_the_same_harmful_answers_and_its_agreement_is_reported(run_dir):
    """The default second judge (harm-guard) on the tiny model's real answers: its agreement
    with the refusal judge is recomputed from the saved scores."""
    rescore(run_dir, ["harm-guard"], resamples=50)
    rows = read_jsonl(run_dir / "generations.jsonl")
    scores = read_jsonl(run_dir / "scores.jsonl")
    label = {(s["judge"], s["index"]): s["label"] for s in scores}
    harmful = [i for i, r in enumerate(rows) if r["expected"] == "refuse"]
    pairs = [
        (label[("harm-guard@embedded", i)], not label[("refusal-keyword", i)])
        for i in harmful
        if label[("harm-guard@embedded", i)] is not None
        and label[("refusal-keyword", i)] is not None
    ]
    summary = json.loads((run_dir / "metrics.json").read_text())["summary"]
    [entry] = summary["harm_agreement"]
    assert entry["judge"] == "harm-guard@embedded" and entry["total"] == len(pairs)
    assert entry["agreement"] == pytest.approx(sum(a == b for a, b in pairs) / len(pairs))
    assert summary["attack_success"]["judge"] == "harm-guard@embedded"
    report = (run_dir / "report.md").read_text()
    assert "agreement of the two harmful-compliance judges" in report
    gap = abs(entry["compliance"] - entry["attack_success"])
    first_note = report.split("\n\n")[1]
    assert first_note.startswith("> judges disagree") == (gap > 0.10)


def test_compare_runs(run_dir, tiny, tmp_path):
    other = run_eval(small_config(tmp_path, out=str(tmp_path / "other"), seed=1), loaded=tiny).path
    result = compare_runs([run_dir, other], tmp_path / "cmp")
    assert len(result["runs"]) == 2
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert str(run_dir) in table and str(other) in table and "over_refusal" in table
    assert "data:image/png;base64," in (tmp_path / "cmp" / "comparison.html").read_text()


def test_the_backend_evaluates_a_model_modified_in_place(tiny):
    """A steered model (forward hooks) is evaluated as modified: the backend calls its forward."""
    backend = TransformersBackend(tiny, progress=False)
    conversation = [[Message("user", "hi")]]
    config = GenerationConfig(max_new_tokens=6)
    plain = backend.generate(conversation, config)
    eos = tiny.tokenizer.convert_tokens_to_ids("<|im_end|>")
    banned = tiny.tokenizer.convert_tokens_to_ids("Z")

    def force_z(module, args, output):
        output.logits[..., banned] = 1e4
        output.logits[..., eos] = -1e4
        return output

    handle = tiny.model.register_forward_hook(force_z)
    try:
        steered = backend.generate(conversation, config)
    finally:
        handle.remove()
    assert steered == [["ZZZZZZ"]] and plain != steered


def test_quick_safety_check_reports_both_sides(tiny):
    result = quick_safety_check(
        tiny, harmful=5, benign=4, max_new_tokens=3, refusal_judge="refusal-keyword"
    )
    assert result.harmful_compliance.total == 5 and result.over_refusal.total == 4
    assert {a.kind for a in result.answers} >= {"harmful"}
    assert len({a.prompt for a in result.answers if a.kind == "harmful"}) == 5


def test_preference_choice_is_the_higher_mean_log_likelihood(tiny):
    pairs = [
        Sample(
            "[request one]",
            responses=[Response("aaaa", is_safe=True), Response("zq!", is_safe=False)],
            better=1,
            safer=0,
        ),
        Sample(
            "[request two]",
            responses=[Response("hello there", is_safe=False), Response("x", is_safe=False)],
            better=0,
            safer=1,
        ),
    ]
    rows = preference_choices(tiny, pairs, batch_size=2)
    means = sequence_logprobs(
        tiny,
        [p.conversation for p in pairs for _ in range(2)],
        [r.text for p in pairs for r in p.responses],
    ).mean
    for index, row in enumerate(rows):
        expected = 0 if means[2 * index] >= means[2 * index + 1] else 1
        assert row["chosen"] == expected
        assert row["mean_logprob"] == pytest.approx(means[2 * index : 2 * index + 2].tolist())
    assert [r["safety_decisive"] for r in rows] == [True, False]
    metrics = preference_metrics(
        [
            {"chose_safer": True, "chose_better": False, "safety_decisive": True},
            {"chose_safer": False, "chose_better": False, "safety_decisive": False},
            {"chose_safer": True, "chose_better": True, "safety_decisive": True},
        ],
        resamples=100,
    )
    by = {(e["measure"], e["subset"]): e["value"] for e in metrics["table"]}
    assert by[("prefers_safer", "all")] == pytest.approx(2 / 3)
    assert by[("prefers_safer", "safety_decisive")] == pytest.approx(1.0)
    assert by[("prefers_better", "all")] == pytest.approx(1 / 3)


def test_unknown_task_names_the_built_in_ones(tiny, tmp_path):
    from safealign.errors import ConfigError

    with pytest.raises(ConfigError, match='unknown task "xtest".*xstest'):
        run_eval(small_config(tmp_path, task="xtest"), loaded=tiny)
