"""Bad input, as a new user would give it, to every verb that reads a file.

Each case runs the real console entry point (`safealign.cli.main`) and asserts what the user
sees: a non-zero exit, a `safealign:` line that names the input, and no Python traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from safealign.cli import main

FILE_KINDS = ("binary", "latin1", "truncated", "empty", "directory", "missing")
CONFIG_KINDS = (*FILE_KINDS, "wrong-type", "unknown-key")


def write_input(kind: str, folder: Path, name: str, text: str = '{"prompt": "hello"}\n') -> Path:
    """A bad input of `kind`, named `name` inside `folder`."""
    path = folder / name
    if kind == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    elif kind == "latin1":
        path.write_bytes(text.replace("hello", "caf\xe9").encode("latin-1"))
    elif kind == "truncated":
        path.write_text(text[: len(text) // 2])
    elif kind == "empty":
        path.write_text("")
    elif kind == "directory":
        path.mkdir()
    elif kind != "missing":
        raise ValueError(kind)
    return path


def run_main(monkeypatch, capsys, argv: list[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["safealign", *map(str, argv)])
    try:
        main()
    except SystemExit as exit_info:
        code = exit_info.code
    else:
        code = 0
    captured = capsys.readouterr()
    return int(code or 0), captured.err + captured.out


def assert_named_error(code: int, output: str, named: str) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("safealign:")]
    assert len(lines) == 1, output
    assert named in lines[0], output


# -- config files ------------------------------------------------------------------------------

# verb argv (before --config), YAML section, a field whose value must be a number / list
CONFIG_VERBS: dict[str, tuple[list[str], str, str | None]] = {
    "demo": (["demo"], "demo", "eval_harmful"),
    "data-inspect": (["data", "inspect", "{source}"], "data", "limit"),
    "data-convert": (["data", "convert", "{source}", "{out}"], "data", "limit"),
    "eval-run": (["eval", "run"], "eval", "batch_size"),
    "eval-judge-agreement": (["eval", "judge-agreement"], "judge_agreement", "judges"),
    "train": (["train"], "train", "learning_rate"),
    "synth-course-correction": (["synth", "course-correction"], "course_correction", "limit"),
    "synth-redteam": (["synth", "redteam"], "redteam", "limit"),
    "guard-train": (["guard", "train"], "train", "dev_limit"),
    "guard-eval": (["guard", "eval"], "eval", "limit"),
    "guard-classify": (["guard", "classify"], "classify", "batch_size"),
    "steer-icv": (["steer", "icv"], "icv", "num_pairs"),
    "steer-apply": (["steer", "apply"], "apply", "alpha"),
    "steer-harm-vector": (["steer", "harm-vector"], "harm_vector", "max_steps"),
    "steer-safety-arithmetic": (["steer", "safety-arithmetic"], "safety_arithmetic", "scale"),
    "steer-knowledge-edit": (["steer", "knowledge-edit"], "knowledge_edit", "instance"),
    "serve": (["serve"], "serve", "port"),
    "audit-export": (["audit", "export"], "audit", None),  # every field is a string
}


@pytest.mark.parametrize("kind", CONFIG_KINDS)
@pytest.mark.parametrize("verb", list(CONFIG_VERBS))
def test_bad_config_file(verb, kind, tmp_path, monkeypatch, capsys):
    argv, section, typed_field = CONFIG_VERBS[verb]
    if kind == "wrong-type" and typed_field is None:
        pytest.skip(f"{verb} has no field that a string would mistype")
    source = tmp_path / "ok.jsonl"
    source.write_text('{"prompt": "hello", "prompt_harmful": false}\n')
    argv = [a.format(source=source, out=tmp_path / "out.jsonl") for a in argv]
    if kind == "wrong-type":
        config = tmp_path / "bad.yaml"
        config.write_text(f"{section}:\n  {typed_field}: fast\n")
        named = typed_field
    elif kind == "unknown-key":
        config = tmp_path / "bad.yaml"
        config.write_text(f"{section}:\n  no_such_key: 1\n")
        named = "no_such_key"
    else:
        config = write_input(kind, tmp_path, "bad.yaml", f"{section}:\n  model: hello\n")
        named = "bad.yaml"
    code, output = run_main(monkeypatch, capsys, [*argv, "--config", config])
    assert_named_error(code, output, named)
    assert "bad.yaml" in output


# -- data files --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from safealign.models import tiny_model

    tiny = tiny_model(seed=0)
    path = tmp_path_factory.mktemp("tiny") / "tiny-model"
    tiny.model.save_pretrained(path)
    tiny.tokenizer.save_pretrained(path)
    return path


ArgvBuilder = Callable[[Path, Path, Path], list]
"""(bad input, scratch folder, tiny model folder) -> argv."""

DATA_VERBS: dict[str, ArgvBuilder] = {
    "data-inspect": lambda p, t, m: ["data", "inspect", p],
    "data-convert": lambda p, t, m: ["data", "convert", p, t / "out.jsonl"],
    "eval-run-dataset": lambda p, t, m: [
        "eval",
        "run",
        "--task",
        "dataset",
        "--dataset",
        p,
        "--expect",
        "refuse",
        "--model",
        m,
        "--out",
        t / "run",
    ],
    "label": lambda p, t, m: [
        "label",
        p,
        "--jury",
        "refusal-keyword,course-correction-keyword",
        "--out",
        t / "l.jsonl",
    ],
    "train-data": lambda p, t, m: [
        "train",
        "--data",
        p,
        "--model",
        m,
        "--output-dir",
        t / "train",
        "--max-steps",
        "1",
    ],
    "synth-course-correction": lambda p, t, m: [
        "synth",
        "course-correction",
        "--data",
        p,
        "--model",
        m,
        "--output",
        t / "cc.jsonl",
    ],
    "synth-redteam": lambda p, t, m: [
        "synth",
        "redteam",
        "--data",
        p,
        "--model",
        m,
        "--output",
        t / "rt.jsonl",
    ],
    "guard-eval": lambda p, t, m: ["guard", "eval", "--data", p, "--output", t / "ge"],
    "guard-classify": lambda p, t, m: ["guard", "classify", "--input", p, "--output", t / "v"],
}
"""Verbs that read a data file (JSONL here), with what each needs besides it."""

KNOWN_FAILURES: dict[tuple[str, str], pytest.MarkDecorator] = {}
"""Cases that fail today, each with an xfail(strict) mark naming why (none at present)."""
EMPTY_IS_VALID = {"guard-classify"}
"""A filter over JSONL conversations: empty in, empty out (like `cat`), exit 0."""


def data_cases():
    for verb in DATA_VERBS:
        for kind in FILE_KINDS:
            mark = KNOWN_FAILURES.get((verb, kind))
            yield pytest.param(verb, kind, marks=[mark] if mark else [], id=f"{verb}-{kind}")


@pytest.mark.parametrize(("verb", "kind"), list(data_cases()))
def test_bad_data_file(verb, kind, tmp_path, tiny_dir, monkeypatch, capsys):
    path = write_input(kind, tmp_path, "bad.jsonl")
    code, output = run_main(monkeypatch, capsys, DATA_VERBS[verb](path, tmp_path, tiny_dir))
    if kind == "empty" and verb in EMPTY_IS_VALID:
        assert code == 0 and "0 verdicts" in output, output
        return
    assert_named_error(code, output, "bad.jsonl")


# -- run directories ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("verb", ["rescore", "compare"])
def test_bad_run_directory(verb, kind, tmp_path, monkeypatch, capsys):
    run = tmp_path / "badrun"
    if kind in ("directory", "missing"):
        target = write_input(kind, tmp_path, "badrun")
    else:  # a run folder whose saved files are damaged
        run.mkdir()
        for name in ("generations.jsonl", "run.json", "metrics.json"):
            write_input(kind, run, name, '{"item_id": "x", "output": "hello"}\n')
        target = run
    argv = ["eval", verb, target]
    argv += ["--judge", "refusal-keyword"] if verb == "rescore" else ["--out", tmp_path / "cmp"]
    code, output = run_main(monkeypatch, capsys, argv)
    assert_named_error(code, output, "badrun")
