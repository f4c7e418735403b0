"""`accelerate launch` with two processes (CPU, gloo) runs the same trainer with no code change,
and data parallelism over 2 x batch 2 gives the weights of one process with batch 4."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from safealign.data.schema import Response, Sample
from safealign.models import tiny_model

pytestmark = pytest.mark.slow


def write_run_config(tmp_path, batch_size: int) -> str:
    config = tmp_path / f"train_b{batch_size}.yaml"
    config.write_text(
        "train:\n"
        f"  model: {tmp_path / 'tiny'}\n"
        f"  data: {tmp_path / 'pairs.jsonl'}\n"
        "  pairs: dpo\n  max_steps: 4\n  learning_rate: 1.0e-2\n  warmup_ratio: 0.0\n"
        f"  batch_size: {batch_size}\n  save_every: null\n  dtype: float32\n  progress: false\n"
    )
    return str(config)


def test_two_process_launch_matches_one_process_with_the_global_batch(tmp_path):
    loaded = tiny_model(0)
    loaded.model.save_pretrained(tmp_path / "tiny")
    loaded.tokenizer.save_pretrained(tmp_path / "tiny")
    pairs = [
        Sample(
            f"harmful request number {i}?",
            responses=[Response("I can't help with that.", True), Response("[unsafe text]", False)],
            better=1,
            safer=0,
        )
        for i in range(8)
    ]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(s.to_dict()) + "\n" for s in pairs))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SAFEALIGN_THREADS": "1"}
    cli = [sys.executable, "-m", "safealign.cli", "train"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    runs = {
        "two": [*launch, "-m", "safealign.cli", "train", "--config", write_run_config(tmp_path, 2)],
        "one": [*cli, "--config", write_run_config(tmp_path, 4)],
    }
    for name, command in runs.items():
        done = subprocess.run(
            [*command, "--output-dir", str(tmp_path / name)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    one = load_file(tmp_path / "one/adapter/adapter_model.safetensors")
    two = load_file(tmp_path / "two/adapter/adapter_model.safetensors")
    assert one.keys() == two.keys() and one
    for key in one:
        assert (one[key] - two[key]).abs().max() < 1e-4, key
    losses = {
        name: [
            json.loads(line)["loss"]
            for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        ]
        for name in runs
    }
    assert losses["one"] == pytest.approx(losses["two"], abs=1e-5)
    assert losses["one"][-1] < losses["one"][0]  # it trained
