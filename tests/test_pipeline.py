"""The demo loop end to end on the tiny model: every stage runs and the report is written."""

import json

import pytest
import torch

from safealign.pipeline import DemoConfig, run_demo


@pytest.mark.slow
def test_demo_runs_every_stage_and_writes_its_report(tiny, tmp_path):
    before_weights = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    config = DemoConfig(
        output_dir=str(tmp_path / "demo"),
        dtype="float32",
        eval_harmful=4,
        eval_benign=4,
        max_new_tokens=6,
        align_samples=1,
        align_max_new_tokens=6,
        align_epochs=1,
        align_prompts=8,
        learning_rate=1e-2,
    )
    stages = []
    report = run_demo(config, loaded=tiny, on_stage=lambda name, _: stages.append(name))

    assert stages == ["measure", "guard", "align", "measure_after"]
    assert report.before.harmful_compliance.total == 4
    assert report.before.over_refusal.total == 4
    assert report.after is not None and len(report.after.answers) == 8
    assert report.training is not None
    assert report.training.steps >= 1 and report.training.pairs >= 1
    guard = report.guard["before"]
    assert guard.num_harmful_prompts == 4 and len(guard.verdicts) == 8
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert saved["after"]["harmful_compliance"]["total"] == 4
    assert "verdicts" not in saved["guard"]["before"]
    assert (tmp_path / "demo" / "before_after.png").stat().st_size > 1000
    assert "harmful compliance" in (tmp_path / "demo" / "report.md").read_text()
    # LoRA trained on top of the base weights: the adapter exists and the base is untouched.
    lora = [n for n, p in tiny.model.named_parameters() if "lora_" in n]
    assert lora
    base = tiny.model.get_base_model()
    for name, weight in base.named_parameters():
        if "lora_" not in name and name in before_weights:
            assert torch.equal(weight, before_weights[name]), name
