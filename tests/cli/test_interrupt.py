"""Ctrl-C on the long verbs, for real: a `safealign` process on a tiny model gets SIGINT once it
has saved some progress, exits 130 with one line (where, what is saved, the command that
resumes), and that command finishes the work with the result of an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from safealign.cli import main
from safealign.config import config_from_dict
from safealign.data.schema import Response, Sample
from safealign.errors import RunInterrupted
from safealign.io import read_jsonl
from safealign.models import tiny_model

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"
SAFEALIGN = [sys.executable, "-m", "safealign.cli"]
LINE = re.compile(r"^safealign: interrupted at (.+); saved: (.+); resume with: (safealign .+)$")
TIMEOUT_S = 120
"""Bound on each wait (a start, a run to its end); never an assertion about speed."""


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", SAFEALIGN_THREADS="1")
    return env


def interrupt_when(args: list[str], ready: Callable[[], bool], logs: Path) -> tuple[int, str]:
    """Start `safealign ARGS`, send SIGINT once `ready()`, return (exit status, stderr's last
    line)."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "stdout").open("w") as out, (logs / "stderr").open("w") as err:
        process = subprocess.Popen([*SAFEALIGN, *args], stdout=out, stderr=err, env=environment())
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not ready():
                assert process.poll() is None, (logs / "stderr").read_text()[-3000:]
                assert time.monotonic() < deadline, "no progress written in time"
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            status = process.wait(timeout=TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    lines = (logs / "stderr").read_text().strip().splitlines()
    return status, lines[-1] if lines else ""


def run_resume(command: str) -> None:
    """Run the printed resume command (its `safealign` is this checkout's CLI)."""
    words = shlex.split(command)
    assert words[0] == "safealign"
    done = subprocess.run(
        [*SAFEALIGN, *words[1:]],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.fixture()
def tiny_dir(tmp_path):
    loaded = tiny_model(0)
    path = tmp_path / "tiny"
    loaded.model.save_pretrained(path)
    loaded.tokenizer.save_pretrained(path)
    return path


@pytest.fixture()
def one_thread():
    """In-process reference runs use the subprocesses' single thread (same float sums)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_train_interrupted_saves_its_step_and_resumes_to_the_uninterrupted_result(
    tmp_path, tiny_dir, one_thread
):
    from safealign.train.config import TrainConfig
    from safealign.train.trainer import train

    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                Sample(
                    f"harmful request number {i}, asked at some length to give each step work?",
                    responses=[
                        Response("I can't help with that request.", is_safe=True),
                        Response("[an unsafe answer would be here]", is_safe=False),
                    ],
                    better=1,
                    safer=0,
                ).to_dict()
            )
            + "\n"
            for i in range(8)
        )
    )
    config = tmp_path / "dpo.yaml"
    config.write_text(
        f"train:\n  model: {tiny_dir}\n  data: {data}\n  output_dir: {tmp_path / 'run'}\n"
        "  batch_size: 2\n  gradient_accumulation_steps: 1\n  max_steps: 200\n"
        "  learning_rate: 0.001\n  lora_dropout: 0.1\n  save_every: 50\n  progress: false\n"
        "  dtype: float32\n"
    )
    metrics = tmp_path / "run" / "metrics.jsonl"
    status, line = interrupt_when(
        ["train", "--config", str(config)], lambda: lines_in(metrics) >= 2, tmp_path / "logs"
    )

    assert status == 130, line
    match = LINE.match(line)
    assert match, line
    stopped_at, saved, resume = match.groups()
    step = lines_in(metrics)  # the step it stopped after, and the metrics it had written
    assert 2 <= step < 200
    assert stopped_at == f"step {step} of 200"
    checkpoint = tmp_path / "run" / f"checkpoint-{step:07d}"
    assert saved == f"checkpoint step {step} in {checkpoint}"
    assert (checkpoint / "progress.json").is_file()  # a checkpoint off the save_every grid
    assert resume == f"safealign train --config {tmp_path / 'run' / 'train_config.json'} --resume"

    run_resume(resume)
    settings = json.loads((tmp_path / "run" / "train_config.json").read_text())
    straight = config_from_dict(TrainConfig, settings | {"output_dir": str(tmp_path / "straight")})
    train(straight)
    expected = load_file(tmp_path / "straight" / "adapter" / "adapter_model.safetensors")
    resumed = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    assert expected.keys() == resumed.keys()
    for name, value in expected.items():
        torch.testing.assert_close(resumed[name], value, rtol=1e-5, atol=1e-7)
    assert [json.loads(row)["step"] for row in metrics.read_text().splitlines()] == list(
        range(1, 201)
    )


def test_eval_run_interrupted_keeps_its_answers_and_resumes_to_the_same_generations(
    tmp_path, tiny_dir, one_thread
):
    from safealign.evaluate import load_eval_config, run_eval

    run = tmp_path / "run"
    args = [
        "eval",
        "run",
        "--model",
        str(tiny_dir),
        "--dtype",
        "float32",
        "--max-new-tokens",
        "48",
        "--batch-size",
        "1",
        "--judge",
        "refusal-keyword",
        "--resamples",
        "100",
        "--no-progress",
        "--out",
        str(run),
    ]
    journal = run / "generations.journal.jsonl"
    status, line = interrupt_when(args, lambda: lines_in(journal) >= 2, tmp_path / "logs")

    assert status == 130, line
    match = LINE.match(line)
    assert match, line
    stopped_at, saved, resume = match.groups()
    answered = lines_in(journal) - 1  # one prompt per batch; line 1 is the header
    assert 1 <= answered < 130  # the suite's 130 prompts
    assert stopped_at == f"prompt {answered} of 130"
    assert saved == f"answers to {answered} prompts in {journal}"
    assert resume == f"safealign eval run --config {run / 'eval_config.json'} --resume"
    assert not (run / "generations.jsonl").exists()

    run_resume(resume)
    straight = load_eval_config(run / "eval_config.json", {"out": str(tmp_path / "straight")})
    run_eval(straight)
    assert read_jsonl(run / "generations.jsonl") == read_jsonl(
        tmp_path / "straight" / "generations.jsonl"
    )
    metrics = json.loads((run / "metrics.json").read_text())["summary"]
    reference = json.loads((tmp_path / "straight" / "metrics.json").read_text())["summary"]
    assert metrics == reference


def test_synth_redteam_interrupted_resumes_to_the_same_pairs(tmp_path, tiny_dir, one_thread):
    from safealign.train.synthesis import RedTeamConfig
    from safealign.train.synthesis.run import run_redteam

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(Sample(f"harmful request number {i}?", prompt_harmful=True).to_dict()) + "\n"
            for i in range(24)
        )
    )
    output = tmp_path / "pairs" / "redteam.jsonl"
    args = [
        "synth",
        "redteam",
        "--model",
        str(tiny_dir),
        "--dtype",
        "float32",
        "--data",
        str(prompts),
        "--num-samples",
        "2",
        "--max-new-tokens",
        "32",
        "--batch-size",
        "1",
        "--output",
        str(output),
    ]
    work = tmp_path / "pairs" / "redteam.journal"
    status, line = interrupt_when(
        args, lambda: lines_in(work / "sampled.jsonl") >= 2, tmp_path / "logs"
    )

    assert status == 130, line
    match = LINE.match(line)
    assert match, line
    stopped_at, saved, resume = match.groups()
    sampled = lines_in(work / "sampled.jsonl") - 1
    assert 1 <= sampled < 24
    assert stopped_at == f"sampled answers: {sampled} of 24"
    assert saved == f"{sampled} sampled answers in {work}"
    assert resume == f"safealign synth redteam --config {work / 'config.json'} --resume"
    assert not output.exists()

    run_resume(resume)
    assert not work.exists()  # the journal folder goes once the pairs are written
    straight = RedTeamConfig(
        model=str(tiny_dir),
        dtype="float32",
        data=str(prompts),
        num_samples=2,
        max_new_tokens=32,
        batch_size=1,
        output=str(tmp_path / "straight.jsonl"),
    )
    run_redteam(straight, progress=False)
    assert read_jsonl(output) == read_jsonl(tmp_path / "straight.jsonl")


def run_main(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["safealign", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code)


def test_run_interrupted_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted():
        raise RunInterrupted(
            stopped_at="step 4 of 18",
            saved="checkpoint step 4 in runs/x/checkpoint-0000004 [sic]",
            resume="safealign train --config runs/x/train_config.json --resume",
        )

    monkeypatch.setattr("safealign.cli.formats", interrupted)
    assert run_main(monkeypatch, "data", "formats") == 130
    err = capsys.readouterr().err
    assert err == (
        "safealign: interrupted at step 4 of 18; saved: checkpoint step 4 in "
        "runs/x/checkpoint-0000004 [sic]; resume with: safealign train --config "
        "runs/x/train_config.json --resume\n"
    )


def test_ctrl_c_outside_a_loop_exits_130_without_a_traceback(monkeypatch, capsys):
    def pressed():
        raise KeyboardInterrupt

    monkeypatch.setattr("safealign.cli.formats", pressed)
    assert run_main(monkeypatch, "data", "formats") == 130
    err = capsys.readouterr().err
    assert "safealign: interrupted (Ctrl-C) before it finished" in err
    assert "Traceback" not in err
