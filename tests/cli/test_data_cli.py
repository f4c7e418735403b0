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
