"""The eval and label verbs through typer's CliRunner, on a tiny model saved to disk."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from safealign.cli import app
from safealign.errors import ConfigError
from safealign.io import read_jsonl, write_jsonl_atomic

runner = CliRunner()


@pytest.fixture()
def tiny_dir(tiny, tmp_path):
    path = tmp_path / "tiny-model"
    tiny.model.save_pretrained(path)
    tiny.tokenizer.save_pretrained(path)
    return path


def test_eval_run_rescore_compare(tiny_dir, tmp_path):
    run = tmp_path / "run"
    config = tmp_path / "eval.yaml"
    config.write_text(
        "eval:\n  task: suite\n  max_new_tokens: 3\n  resamples: 100\n  progress: false\n"
    )
    result = runner.invoke(
        app,
        [
            "eval",
            "run",
            "--config",
            str(config),
            "--model",
            str(tiny_dir),
            "--limit",
            "52",
            "--judge",
            "refusal-keyword",
            "--dtype",
            "float32",
            "--out",
            str(run),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "compliance rate" in result.output and "over-refusal rate" in result.output
    assert json.loads((run / "run.json").read_text())["config"]["max_new_tokens"] == 3
    assert len(read_jsonl(run / "generations.jsonl")) == 52

    result = runner.invoke(
        app, ["eval", "rescore", str(run), "--judge", "course-correction-keyword"]
    )
    assert result.exit_code == 0, result.output
    assert {s["judge"] for s in read_jsonl(run / "scores.jsonl")} == {
        "refusal-keyword",
        "course-correction-keyword",
    }
    result = runner.invoke(
        app, ["eval", "compare", str(run), str(run), "--out", str(tmp_path / "cmp")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cmp" / "comparison.html").is_file()


def test_unknown_judge_is_a_config_error(tiny_dir, tmp_path):
    result = runner.invoke(
        app,
        [
            "eval",
            "run",
            "--model",
            str(tiny_dir),
            "--judge",
            "nope",
            "--limit",
            "1",
            "--max-new-tokens",
            "1",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert isinstance(result.exception, ConfigError)
    assert 'unknown judge "nope"' in str(result.exception)


@pytest.mark.slow
def test_label_with_a_jury_writes_votes_and_agreement(tiny_dir, tmp_path):
    data = tmp_path / "responses.jsonl"
    write_jsonl_atomic(
        data,
        [
            {"prompt": "[request]", "response": "I'm sorry, I cannot help with that."},
            {"prompt": "[request]", "response": "Sure, here it is."},
            {"prompt": "[request]", "response": "I won't do that."},
        ],
    )
    out = tmp_path / "labels.jsonl"
    jury = f"refusal-keyword,refusal-llm@{tiny_dir},refusal-model"
    result = runner.invoke(app, ["label", str(data), "--jury", jury, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out)
    assert len(rows) == 3
    assert set(rows[0]["votes"]) == {"refusal-keyword", f"refusal-llm@{tiny_dir}", "refusal-model"}
    assert (
        rows[0]["votes"]["refusal-keyword"] is True and rows[1]["votes"]["refusal-keyword"] is False
    )
    for row in rows:  # the label is the majority of the three votes
        assert row["label"] == (sum(row["votes"].values()) >= 2)
    summary = json.loads((tmp_path / "labels.agreement.json").read_text())
    assert summary["responses"] == 3 and len(summary["pairwise_cohen_kappa"]) == 3


def test_example_configs_load():
    from pathlib import Path

    from safealign.evaluate import get_task, load_eval_config
    from safealign.evaluate.task import resolve_settings

    paths = sorted(Path(__file__).resolve().parents[2].glob("configs/eval/*.yaml"))
    assert paths
    for path in paths:
        config = load_eval_config(path)
        resolve_settings(get_task(config.task), config)
