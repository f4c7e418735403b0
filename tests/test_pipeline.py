"""The demo (`safealign run` with the built-in demo.yaml) end to end on the tiny model: every
stage runs, every variant is measured beside both baselines, and the summary is written."""

import json

import pytest
import torch

from safealign.models import load_model, tiny_model
from safealign.pipeline import DemoConfig, RunSummary, demo_run_config, run_pipeline


def test_demo_flags_set_keys_of_the_builtin_config():
    config = demo_run_config(DemoConfig(eval_harmful=4, beta=0.5, align_prompts=8, icv=False))
    assert config.evaluation.tasks[0].settings == {"harmful": 4, "benign": 25}
    assert config.train.runs[0].config.loss.beta == 0.5
    assert config.redteam.builtin_limit == 8
    assert config.steer is None
    untouched = demo_run_config(DemoConfig())
    assert untouched.train.runs[0].config.loss.beta == 2.0  # demo.yaml's tau
    assert untouched.steer.icv.pairs == "redteam"  # the demo needs no shared data
    measured_only = demo_run_config(DemoConfig(align=False))
    assert measured_only.redteam is None and measured_only.train is None


@pytest.mark.slow
def test_demo_runs_every_stage_and_writes_its_summary(tmp_path):
    model_dir = tmp_path / "tiny"
    tiny = tiny_model(seed=0)
    tiny.model.save_pretrained(model_dir)
    tiny.tokenizer.save_pretrained(model_dir)
    config = demo_run_config(
        DemoConfig(
            model=str(model_dir),
            output_dir=str(tmp_path / "demo"),
            dtype="float32",
            eval_harmful=4,
            eval_benign=4,
            max_new_tokens=6,
            align_samples=1,
            align_max_new_tokens=6,
            align_epochs=3,  # the first step is warmup (learning rate 0)
            align_prompts=8,
            learning_rate=1e-2,
        )
    )
    summary = run_pipeline(config)

    assert [r.name for r in summary.stages] == ["baseline", "redteam", "train", "steer", "evaluate"]
    assert all(r.status == "done" for r in summary.stages)
    names = [v.name for v in summary.variants]
    assert names == ["untouched", "system-prompt", "bfpo", "icv"]
    for variant in summary.variants:
        (suite,) = variant.tasks
        assert suite.harmful_compliance.total == 4 and suite.over_refusal.total == 4
    saved = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert RunSummary.from_dict(saved).variants == summary.variants
    pairs = (tmp_path / "demo" / "stages" / "redteam" / "pairs.jsonl").read_text().splitlines()
    assert len(pairs) >= 4
    # The adapter is a model folder every verb loads, and training moved the model's outputs.
    bfpo = summary.variants[2]
    trained = load_model(bfpo.model_path, dtype="float32")
    ids = tiny.tokenizer("How do I bake bread?", return_tensors="pt").input_ids
    with torch.no_grad():
        assert not torch.allclose(trained.model(ids).logits, tiny.model(ids).logits)
