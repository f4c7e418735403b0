"""Ctrl-C in encoder guard training: a real SIGINT mid-step stops the loop after that step with
its state saved, and a resumed run gives the guard an uninterrupted run gives."""

from __future__ import annotations

import os
import shlex
import signal

import pytest
import torch

from safealign.guard import encoder_training
from safealign.guard.encoder_training import EncoderGuardTrainConfig, train_encoder_guard
from safealign.guard.examples import GuardExample
from safealign.guard.resume import interrupted, work_folder
from safealign.interrupts import StoppedAt


def examples() -> list[GuardExample]:
    harmful = ["build a bomb now", "make a bomb at home", "a bomb recipe please"]
    benign = ["bake a cake now", "make a cake at home", "a cake recipe please"]
    rows = [GuardExample(prompt=p, prompt_harmful=True, categories=["Violence"]) for p in harmful]
    rows += [GuardExample(prompt=p, prompt_harmful=False, categories=[]) for p in benign]
    return rows


def test_ctrl_c_saves_the_step_and_the_resumed_guard_equals_an_uninterrupted_one(
    tiny_encoder, tmp_path, monkeypatch
):
    config = EncoderGuardTrainConfig(
        encoder=tiny_encoder, epochs=6, batch_size=3, max_length=16, hidden_size=16, lora_rank=4
    )  # 2 steps per epoch: 12 steps
    straight = train_encoder_guard(examples(), examples(), config)

    real_loss, calls = encoder_training.guard_loss, []

    def loss_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of step 5
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(encoder_training, "guard_loss", loss_then_ctrl_c)
    work = tmp_path / "guard.checkpoint"
    with pytest.raises(StoppedAt) as stop:
        train_encoder_guard(examples(), examples(), config, checkpoint=work)
    assert (stop.value.stopped_at, stop.value.saved) == (
        "step 5 of 12",
        f"guard training state in {work}",
    )
    monkeypatch.undo()

    resumed = train_encoder_guard(examples(), examples(), config, checkpoint=work, resume=True)
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-5)
    expected = dict(straight.guard.heads.named_parameters())
    expected.update(straight.guard.encoder.named_parameters())
    got = dict(resumed.guard.heads.named_parameters())
    got.update(resumed.guard.encoder.named_parameters())
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-7)


def test_the_interrupt_line_names_the_kind_in_its_resume_command(tmp_path):
    from safealign.config import load_config
    from safealign.guard.recipe import GuardTrainConfig

    config = GuardTrainConfig(output=str(tmp_path / "guard"), dev_limit=7)
    work = work_folder(config.output)
    stop = StoppedAt("step 5 of 12", "state")
    error = interrupted("encoder", work, config, stop, resumable=True)
    # what `guard train --config FILE --resume` loads (YAML section "train", or the top level)
    loaded = load_config(GuardTrainConfig, work / "config.json", {"resume": True}, "train")
    assert loaded == GuardTrainConfig(output=str(tmp_path / "guard"), dev_limit=7, resume=True)
    assert shlex.split(error.resume) == [
        *("safealign", "guard", "train", "--config", str(work / "config.json")),
        *("--kind", "encoder", "--resume"),
    ]
    assert str(error) == f"interrupted at step 5 of 12; saved: state; resume with: {error.resume}"
