"""`safealign run` on a tiny random model saved to a folder: stages, cache, --force, resume,
config errors. The second judge is the real embedded guard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from safealign.errors import ConfigError, RunInterrupted
from safealign.models import load_model
from safealign.pipeline import RunSummary, load_run_config, run_pipeline

from .helpers import run_yaml, statuses

pytestmark = pytest.mark.slow

STAGES = ["baseline", "redteam", "train", "steer", "evaluate"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_dir) -> tuple[Path, RunSummary]:
    """One finished run; tests that change it work on a copy."""
    folder = tmp_path_factory.mktemp("finished")
    summary = run_pipeline(load_run_config(run_yaml(folder, tiny_dir)))
    return folder, summary


def copy_of(finished, tmp_path, tiny_dir) -> Path:
    """A copy of the finished run folder and its config (pointing at the copy)."""
    shutil.copytree(finished[0] / "run", tmp_path / "run")
    return run_yaml(tmp_path, tiny_dir)


def test_a_two_variant_run_fills_the_summary(finished):
    folder, summary = finished
    assert statuses(summary) == dict.fromkeys(STAGES, "done")
    assert [v.name for v in summary.variants] == ["untouched", "system-prompt", "bfpo", "icv"]
    for variant in summary.variants:
        (suite,) = variant.tasks
        assert suite.task == "suite" and suite.primary_judge == "refusal-keyword"
        assert suite.harmful_compliance.total == 3 and suite.over_refusal.total == 3
        (second,) = suite.second_judges
        assert second.judge == "harm-guard@embedded" and second.rate.total == 3
        assert 0.0 <= suite.judge_agreement[second.judge] <= 1.0
        assert len(suite.harmful_samples) == 2 and len(suite.benign_samples) == 2
        for sample in suite.harmful_samples + suite.benign_samples:
            assert set(sample.labels) == {"refusal-keyword", "harm-guard@embedded"}
            assert sample.labels["refusal-keyword"] in ("refused", "complied")
        assert suite.per_category  # the suite's prompts carry harm categories
        assert Path(suite.run_dir, "generations.jsonl").is_file()
    # The system-prompt baseline really put the system prompt before every request.
    generations = Path(summary.variants[1].tasks[0].run_dir, "generations.jsonl")
    rows = [json.loads(line) for line in generations.read_text().splitlines()]
    assert all(row["decoding"]["system_prompt"] for row in rows)
    (curve,) = summary.training_curves
    assert curve.variant == "bfpo" and curve.steps == [1, 2, 3] and "loss" in curve.metrics
    assert [t.variant for t in summary.targets] == ["bfpo", "icv"]
    # Every figure in summary.json reads back as the same dataclasses (compared as JSON: a
    # training metric not defined at a step is NaN, which equals nothing).
    saved = json.loads((folder / "run" / "summary.json").read_text())
    assert json.dumps(RunSummary.from_dict(saved).to_dict()) == json.dumps(summary.to_dict())
    if summary.best_variant is not None:  # a folder any verb loads
        assert summary.best_variant in ("bfpo", "icv")
        assert load_model(summary.best_model_path, dtype="float32").model is not None


def test_a_rerun_skips_every_stage_and_gives_the_same_summary(finished, tmp_path, tiny_dir):
    config = load_run_config(copy_of(finished, tmp_path, tiny_dir))
    again = run_pipeline(config)
    assert statuses(again) == dict.fromkeys(STAGES, "cached")
    before = [v for v in finished[1].variants]
    assert [v.name for v in again.variants] == [v.name for v in before]
    for ours, theirs in zip(again.variants, before, strict=True):
        assert [(t.harmful_compliance, t.over_refusal, t.harmful_samples) for t in ours.tasks] == [
            (t.harmful_compliance, t.over_refusal, t.harmful_samples) for t in theirs.tasks
        ]
    assert again.warnings == finished[1].warnings


def test_force_redoes_the_stage_and_its_dependants_only(finished, tmp_path, tiny_dir):
    config = load_run_config(copy_of(finished, tmp_path, tiny_dir))
    summary = run_pipeline(config, force=["train"])
    assert statuses(summary) == {
        "baseline": "cached",
        "redteam": "cached",
        "train": "done",
        "steer": "cached",  # the ICV is read from the base model: it does not depend on train
        "evaluate": "done",
    }
    summary = run_pipeline(config, force=["redteam"])
    assert statuses(summary) == {"baseline": "cached", **dict.fromkeys(STAGES[1:], "done")}
    with pytest.raises(ConfigError, match="--force trian: this run has no stage of that name"):
        run_pipeline(config, force=["trian"])


def test_a_changed_setting_reruns_its_stage_and_those_below(finished, tmp_path, tiny_dir):
    path = copy_of(finished, tmp_path, tiny_dir)
    data = yaml.safe_load(path.read_text())
    data["train"]["runs"][0]["config"]["learning_rate"] = 5.0e-3
    path.write_text(yaml.safe_dump(data))
    summary = run_pipeline(load_run_config(path))
    assert statuses(summary) == {
        "baseline": "cached",
        "redteam": "cached",
        "train": "done",
        "steer": "cached",
        "evaluate": "done",
    }


def test_ctrl_c_in_a_stage_names_it_and_a_rerun_resumes_there(
    finished, tmp_path, tiny_dir, monkeypatch
):
    import safealign.pipeline.making as making
    import safealign.train.trainer as trainer

    path = copy_of(finished, tmp_path, tiny_dir)
    config = load_run_config(path)
    real_train = making.train

    def interrupted_after_step_2(train_config, **kwargs):
        def stop(step, row):
            if step == 2:
                raise KeyboardInterrupt

        return real_train(train_config, on_step=stop, **kwargs)

    monkeypatch.setattr(making, "train", interrupted_after_step_2)
    with pytest.raises(RunInterrupted) as caught:
        run_pipeline(config, force=["train"], resume_command=f"safealign run {path}")
    assert "stage train" in caught.value.stopped_at
    assert caught.value.resume == f"safealign run {path}"
    assert "checkpoint" in caught.value.saved
    record = json.loads((tmp_path / "run" / "stages" / "train" / "stage.json").read_text())
    assert record["status"] == "interrupted"

    monkeypatch.setattr(making, "train", real_train)
    loaded_checkpoints = []
    real_load = trainer.load_checkpoint

    def spy(checkpoint, *args, **kwargs):
        loaded_checkpoints.append(Path(checkpoint).name)
        return real_load(checkpoint, *args, **kwargs)

    monkeypatch.setattr(trainer, "load_checkpoint", spy)
    summary = run_pipeline(config)
    assert statuses(summary) == {
        "baseline": "cached",
        "redteam": "cached",
        "train": "done",
        "steer": "cached",
        "evaluate": "done",
    }
    # resumed from the checkpoint of the last finished step
    assert [int(name.rsplit("-", 1)[1]) for name in loaded_checkpoints] == [2]
    assert summary.training_curves[0].steps == [1, 2, 3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trian": {}}, r"unknown key\(s\) trian for RunConfig"),
        (
            {"evaluation": {"max_new_tokens": "long"}},
            r'key "evaluation.max_new_tokens" must be an integer',
        ),
        (
            {"train": {"runs": [{"config": {"model": "gpt2"}}]}},
            r'key "train.runs\[0\].config.model" is set by the run',
        ),
        (
            {"evaluation": {"tasks": [{"task": "suite", "settings": {"benign_limit": 3}}]}},
            r'"evaluation.tasks\[0\].benign_limit" is not a setting of task "suite"',
        ),
        (
            {"steer": {"icv": {"apply_to": ["dpo"]}}},
            r'"steer.icv.apply_to" names "dpo", which is neither "base" nor a train run',
        ),
        (
            {"steer": {"hdr": {"apply_to": ["bfpo"]}}},
            r'"steer.hdr.apply_to" names train run "bfpo", whose LoRA adapter has no full '
            r'weights.*"train.runs\[0\].config.merge: true"',
        ),
    ],
)
def test_a_bad_config_names_the_key(tmp_path, tiny_dir, change, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(run_yaml(tmp_path, tiny_dir, **change))


def test_the_run_verb_names_a_bad_key_in_one_line(monkeypatch, capsys, tmp_path, tiny_dir):
    import sys

    from safealign.cli import main

    path = run_yaml(tmp_path, tiny_dir, trian={})
    monkeypatch.setattr(sys, "argv", ["safealign", "run", str(path), "--force", "train"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown key(s) trian for RunConfig" in err and "Traceback" not in err


def test_resuming_never_repeats_force():
    from safealign.cli import _without_force

    args = ["run", "x.yaml", "--force", "train", "--force=steer", "--seed", "1"]
    assert _without_force(args) == ["run", "x.yaml", "--seed", "1"]
