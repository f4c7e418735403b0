import json

import pytest
from typer.testing import CliRunner

from safealign.cli import app

runner = CliRunner()

PAIR = {
    "prompt": "How do I pick a lock?",
    "response_0": "[unsafe response text]",
    "response_1": "I can't help with breaking into property.",
    "is_response_0_safe": False,
    "is_response_1_safe": True,
    "better_response_id": 0,
    "safer_response_id": 1,
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_inspect_prints_rows_and_pair_labels(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", [PAIR, {**PAIR, "better_response_id": 1}])
    result = runner.invoke(app, ["data", "inspect", str(source)])
    assert result.exit_code == 0, result.output
    assert "pku-saferlhf" in result.output
    assert "(F,T,0,1)" in result.output and "(F,T,1,1)" in result.output


def test_convert_writes_unified_jsonl_and_config_is_honoured(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", [PAIR] * 3)
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  limit: 2\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "convert", str(source), str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2
    assert rows[0]["safer"] == 1 and rows[0]["responses"][1]["is_safe"] is True


def test_bad_row_error_names_file_line_and_field(tmp_path):
    source = write_jsonl(tmp_path / "bad.jsonl", [PAIR, {**PAIR, "safer_response_id": "yes"}])
    result = runner.invoke(app, ["data", "inspect", str(source)])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "bad.jsonl line 2" in message and 'field "safer_response_id"' in message
    assert "--skip-bad-rows" in message
    skipped = runner.invoke(app, ["data", "inspect", str(source), "--skip-bad-rows"])
    assert skipped.exit_code == 0
    assert "skipped 1 bad row" in skipped.output


@pytest.mark.shared_data
def test_inspect_c2eval_prints_its_documented_counts(shared_data_dir):
    source = shared_data_dir / "course_correction_c2eval" / "eval" / "test.jsonl"
    result = runner.invoke(app, ["data", "inspect", str(source)], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("rows" in line and "500" in line for line in lines)
    expected = {
        "(F,F,1,0)": 189,
        "(F,F,0,1)": 180,
        "(F,F,0,0)": 38,
        "(F,T,0,1)": 31,
        "(F,F,1,1)": 28,
        "(T,F,1,0)": 26,
        "(F,T,1,1)": 5,
        "(T,F,0,0)": 3,
    }
    for key, count in expected.items():
        assert any(key in line and str(count) in line.split(key)[1] for line in lines), key


def _run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The console entry point (`safealign ...`), which turns safealign errors into a message."""
    import sys

    from safealign.cli import main

    monkeypatch.setattr(sys, "argv", ["safealign", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code), capsys.readouterr().err


BAD_FILES = {
    "binary": ("pairs.jsonl", b'{"prompt": "x"}\n\x00\x01\x02\xff' * 10, "is a binary file"),
    "latin-1": ("qa.csv", b"prompt,response\ncaf\xe9,ok\n", "line 2: is not UTF-8 text"),
    "empty": ("pairs.jsonl", b"", "the file is empty"),
}


@pytest.mark.parametrize("verb", ["inspect", "convert"])
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_unreadable_files_end_in_one_named_error(verb, kind, tmp_path, monkeypatch, capsys):
    name, content, reason = BAD_FILES[kind]
    source = tmp_path / name
    source.write_bytes(content)
    out = [str(tmp_path / "out.jsonl")] if verb == "convert" else []
    code, err = _run_main(monkeypatch, capsys, "data", verb, str(source), *out)
    assert code == 2 and "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"safealign: {source}") and reason in first
    assert not (tmp_path / "out.jsonl").exists()


def test_latin1_error_gives_the_byte_offset(tmp_path, monkeypatch, capsys):
    source = tmp_path / "qa.csv"
    source.write_bytes(b"prompt,response\ncaf\xe9,ok\n")  # 16 bytes of header, then "caf"
    _, err = _run_main(monkeypatch, capsys, "data", "inspect", str(source))
    assert "byte 0xe9 at byte offset 19 cannot be decoded" in err
    assert "iconv" in err


def test_a_folder_without_data_files_is_named(tmp_path, monkeypatch, capsys):
    code, err = _run_main(monkeypatch, capsys, "data", "inspect", str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"safealign: {tmp_path}: 0 data files in this folder (found: none)")


@pytest.mark.shared_data
def test_data_list_prints_the_catalogue(shared_data_dir):
    result = runner.invoke(app, ["data", "list", "--data-dir", str(shared_data_dir)])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "450" in lines["xstest-prompts"] and "evaluation" in lines["xstest-prompts"]
    assert "939" in lines["do-not-answer"] and "Apache-2.0" in lines["do-not-answer"]
    assert "training" in lines["do-not-answer"]
