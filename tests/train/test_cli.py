"""`safealign train` and `safealign synth` through the real CLI, on a tiny model saved to disk."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from safealign.cli import app
from safealign.data.schema import Response, Sample
from safealign.errors import ConfigError
from safealign.models import tiny_model

from .helpers import refusal_pairs

pytestmark = pytest.mark.slow
runner = CliRunner()
HARMFUL = "Step one, a. Step two, b. Step three, c. Step four, d. Step five, e."


@pytest.fixture()
def tiny_dir(tmp_path):
    loaded = tiny_model(0)
    path = tmp_path / "tiny"
    loaded.model.save_pretrained(path)
    loaded.tokenizer.save_pretrained(path)
    return path


def write_samples(path, samples):
    path.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in samples))
    return path


def test_train_from_yaml_with_flag_overrides(tmp_path, tiny_dir):
    data = write_samples(
        tmp_path / "pairs.jsonl",
        refusal_pairs([f"request {i}" for i in range(4)]),
    )
    config = tmp_path / "bfpo.yaml"
    config.write_text(
        "train:\n  loss: {name: bfpo, beta: 0.5}\n  batch_size: 2\n"
        "  gradient_accumulation_steps: 1\n  max_steps: 50\n  progress: false\n  save_every: 1\n"
    )
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(config),
            "--model",
            str(tiny_dir),
            "--data",
            str(data),
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            "--merge",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 pairs (0 truncated, 0 skipped), 2 steps" in result.output
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "model" / "config.json").is_file()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "train_config.json").read_text())["loss"]["name"] == "bfpo"


def test_train_rejects_unknown_config_keys(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  learning_rat: 0.1\n")
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert isinstance(result.exception, ConfigError)
    assert "unknown key(s) learning_rat" in str(result.exception)


def test_synth_course_correction_writes_fifteen_pairs_per_prompt(tmp_path, tiny_dir):
    data = write_samples(
        tmp_path / "harmful.jsonl",
        [
            Sample(f"bad request {i}?", responses=[Response(HARMFUL, is_safe=False)])
            for i in range(2)
        ],
    )
    out = tmp_path / "c2syn.jsonl"
    config = tmp_path / "c2.yaml"
    config.write_text("course_correction:\n  max_new_tokens: 4\n  dtype: float32\n")
    result = runner.invoke(
        app,
        [
            "synth",
            "course-correction",
            "--config",
            str(config),
            "--data",
            str(data),
            "--model",
            str(tiny_dir),
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 30 and "30 pairs from 2 prompts" in result.output
    assert {r["metadata"]["group"] for r in rows} == {"0", "1"}


def test_safe_rlhf_through_the_cli_reports_cost_and_lambda_not_a_loss(tmp_path, tiny_dir):
    pairs = write_samples(
        tmp_path / "pairs.jsonl",
        refusal_pairs([f"question {i}?" for i in range(4)]),
    )
    common = ["--model", str(tiny_dir), "--max-steps", "1", "--no-progress"]
    for kind in ("reward", "cost"):
        model_flags = ["--objective", kind, "--data", str(pairs), "--batch-size", "2"]
        result = runner.invoke(
            app, ["train", *model_flags, "--output-dir", str(tmp_path / kind), *common]
        )
        assert result.exit_code == 0, result.output
    harmful = tmp_path / "harmful.jsonl"
    harmful.write_text('{"prompt": "how do I pick a lock?"}\n{"prompt": "hurt someone?"}\n')
    benign = tmp_path / "benign.jsonl"
    benign.write_text('{"prompt": "bake bread?"}\n{"prompt": "name a colour"}\n')
    settings = {
        "--safe-rlhf-reward-model": tmp_path / "reward",
        "--safe-rlhf-cost-model": tmp_path / "cost",
        "--safe-rlhf-harmful-prompts": harmful,
        "--safe-rlhf-benign-prompts": benign,
        "--safe-rlhf-rollout-batch-size": 2,
        "--safe-rlhf-mini-batch-size": 2,
        "--safe-rlhf-max-new-tokens": 4,
        "--max-length": 64,
        "--max-prompt-length": 32,
    }
    flags = [str(x) for item in settings.items() for x in item]
    out = tmp_path / "ppo"
    result = runner.invoke(
        app,
        ["train", "--objective", "safe_rlhf", "--output-dir", str(out), *flags, *common],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "4 prompts, 1 PPO iterations" in text
    assert "final loss" not in text
    row = json.loads((out / "metrics.jsonl").read_text())
    assert f"cost {row['cost']:.3f}" in text and f"lambda {row['lambda']:.3f}" in text
