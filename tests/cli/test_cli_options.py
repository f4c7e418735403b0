"""Options derived from config dataclasses: help from field metadata, YAML <- flags, choices
from registries, and every flag the hand-written CLI had still there."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field

import typer
from typer.main import get_command
from typer.testing import CliRunner

from safealign.cli import app
from safealign.cli_options import ConfigRequest, LazyCommand, config_verb
from safealign.evaluate import EvalConfig, settings_classes
from safealign.train.config import TrainConfig

runner = CliRunner()


@dataclass
class Inner:
    rank: int = field(default=16, metadata={"help": "Adapter rank."})


@dataclass
class Toy:
    model: str = field(default="embedded", metadata={"help": "Which model to use."})
    mode: str = field(default="fast", metadata={"help": "Speed.", "choices": ("fast", "slow")})
    limit: int | None = field(default=None, metadata={"help": "First N rows."})
    weights: dict[str, float] | None = field(default=None, metadata={"help": "Loss weights."})
    tags: list[str] = field(default_factory=list, metadata={"help": "Tags (repeatable)."})
    merge: bool = field(default=False, metadata={"help": "Also merge."})
    inner: Inner = field(default_factory=Inner)


def toy_app(seen: list) -> typer.Typer:
    toy = typer.Typer()

    @config_verb(toy, "go", Toy, section="toy", aliases={"tags": ["--tag"]})
    def go(request: ConfigRequest, source: str = typer.Argument(...)) -> None:
        seen.append((source, request.load()))

    @toy.command("other")
    def other() -> None:
        pass

    return toy


def test_help_comes_from_field_metadata_with_choices_and_defaults():
    result = runner.invoke(toy_app([]), ["go", "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # rich wraps the columns
    for expected in ("Which model to use.", "Adapter rank.", "--inner-rank", "--no-merge"):
        assert expected in text
    assert "One of: fast, slow." in text and "(default: embedded)" in text


def test_flags_override_yaml_and_absent_flags_do_not(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text("toy:\n  model: from-yaml\n  limit: 5\n  inner: {rank: 4}\n")
    seen: list = []
    argv = ["go", "SRC", "--config", str(config), "--limit", "0", "--tag", "a", "--tag", "b"]
    result = runner.invoke(toy_app(seen), [*argv, "--weights", "bfpo=1.0", "--merge"])
    assert result.exit_code == 0, result.output
    source, toy = seen[0]
    assert source == "SRC" and toy.model == "from-yaml" and toy.inner.rank == 4
    assert toy.limit == 0 and toy.tags == ["a", "b"] and toy.merge is True
    assert toy.weights == {"bfpo": 1.0}
    result = runner.invoke(toy_app(seen), ["go", "SRC", "--inner-rank", "2", "--mode", "slow"])
    assert result.exit_code == 0, result.output
    assert seen[1][1].inner.rank == 2 and seen[1][1].mode == "slow"


def test_a_choice_outside_the_registry_is_a_usage_error():
    result = runner.invoke(toy_app([]), ["go", "SRC", "--mode", "warp"])
    assert result.exit_code == 2 and "warp" in result.output


def _options(*path: str) -> set[str]:
    command = get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    command = command.resolve() if isinstance(command, LazyCommand) else command
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_config_field_is_a_flag():
    train = _options("train")
    for name in TrainConfig.__dataclass_fields__:
        if name not in ("loss", "safe_rlhf"):  # nested configs: one flag per inner field
            assert "--" + name.replace("_", "-") in train, name
    assert {"--loss-name", "--loss-beta", "--loss-weights", "--loss-per-token"} <= train
    assert {"--safe-rlhf-cost-threshold", "--safe-rlhf-kl-coef"} <= train
    run = _options("eval", "run")
    for cls in (EvalConfig, *settings_classes()):
        for name in cls.__dataclass_fields__:
            if name != "settings":
                assert "--" + name.replace("_", "-") in run, name


def test_every_flag_of_the_hand_written_cli_is_still_accepted():
    legacy = {
        ("demo",): "--config --model --output-dir --align --no-align --guard",
        ("data", "inspect"): "--config --format -f --split --column-map -m --skip-bad-rows --limit",
        ("data", "convert"): "--config --format -f --split --column-map -m --skip-bad-rows --limit",
        ("eval", "run"): "--config --task --model --judge -j --dataset --format --expect "
        "--data-dir --limit --benign-limit --attack --k --max-new-tokens --num-samples "
        "--temperature --top-p --batch-size --seed --dtype --backend-url --out --resamples",
        ("eval", "rescore"): "--judge -j --replace",
        ("eval", "compare"): "--out",
        ("eval", "judge-agreement"): "--judge -j --data-dir --config",
        ("eval", "train-refusal-judge"): "--data --out",
        ("label",): "--jury --out --format --limit",
        ("train",): "--config --model --data --data-format --objective --output-dir "
        "--max-steps --data-limit --resume --no-resume --merge --no-merge",
        ("synth", "course-correction"): "--config --data --data-format --output --model "
        "--limit --seed",
        ("synth", "redteam"): "--config --data --data-format --output --model --limit --judge "
        "--helpfulness",
        ("guard", "train"): "--config --kind --output --data-dir",
        ("guard", "eval"): "--config --guard --data --limit --output",
        ("guard", "classify"): "--config --guard --input -i --output -o --categories --batch-size",
    }
    for path, flags in legacy.items():
        assert set(flags.split()) <= _options(*path), (path, set(flags.split()) - _options(*path))


def test_verbs_without_settings_take_no_config():
    for path in [
        ("data", "formats"),
        ("models", "prepare"),
        ("eval", "rescore"),
        ("eval", "compare"),
        ("eval", "tasks"),
        ("eval", "train-refusal-judge"),
        ("label",),
    ]:
        assert "--config" not in _options(*path), path


def test_guard_train_refuses_an_option_of_the_other_family():
    result = runner.invoke(app, ["guard", "train", "--kind", "encoder", "--max-examples", "5"])
    assert "--max-examples is a setting of --kind llm, not of --kind encoder" in str(
        result.exception
    )


def test_help_lists_every_verb_without_importing_torch_or_pandas():
    """`safealign --help` lists the verbs from their names and docstrings: building a verb's
    options imports its config module (and with it torch), so that waits for the verb's own use."""
    code = (
        "import sys; from typer.testing import CliRunner; from safealign.cli import app\n"
        "out = [CliRunner().invoke(app, argv).output for argv in (['--help'], ['eval'])]\n"
        "heavy = [m for m in ('torch', 'transformers', 'pandas') if m in sys.modules]\n"
        "print('HEAVY', heavy); print(*out)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in result.stdout
    for verb in ("demo", "train", "guard", "judge-agreement", "train-refusal-judge"):
        assert verb in result.stdout, verb
    assert "Generate answers for a task" in result.stdout  # a lazy verb's help line


def test_a_lazy_verb_builds_its_options_on_first_use(tmp_path):
    seen: list = []
    toy = typer.Typer()

    @config_verb(toy, "go", f"{__name__}:Toy", choices={"mode": f"{__name__}:MODES"})
    def go(request: ConfigRequest) -> None:
        seen.append(request.load())

    @toy.command("other")
    def other() -> None:
        pass

    result = runner.invoke(toy, ["go", "--mode", "slow", "--inner-rank", "3"])
    assert result.exit_code == 0, result.output
    assert seen[0].mode == "slow" and seen[0].inner.rank == 3
    result = runner.invoke(toy, ["go", "--mode", "fast"])  # the registry, not the field's choices
    assert result.exit_code == 2 and "fast" in result.output


MODES = ("slow", "warp")
