"""Each data error names the file, the line, the field, and what to do about it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safealign.data import ColumnError, load_samples, require_labels
from safealign.data.schema import Response, Sample
from safealign.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
BAD = FIXTURES / "bad_pairs.jsonl"
SKIP_FIX = "Fix the row, or pass skip_bad_rows=True / --skip-bad-rows to skip it."


def test_wrong_type_names_file_line_field_and_fix():
    with pytest.raises(DataError) as info:
        load_samples(BAD)
    error = info.value
    assert (error.path, error.line, error.field) == (str(BAD), 2, "safer_response_id")
    assert str(error) == (
        f'{BAD} line 2: field "safer_response_id": must be 0 or 1, got "yes".\n{SKIP_FIX}'
    )


def test_skip_bad_rows_reports_how_many_and_which_lines():
    result = load_samples(BAD, skip_bad_rows=True)
    assert len(result) == 2
    assert result.lines == [1, 5]
    assert [s.line for s in result.skipped] == [2, 3, 4]
    assert result.skipped[0].reason == 'field "safer_response_id": must be 0 or 1, got "yes".'
    assert result.skipped[1].reason.startswith("not valid JSON")
    assert result.skipped[2].reason == 'field "prompt": is empty.'
    assert result.skip_report() == (
        f"skipped 3 bad row(s) in {BAD} (lines 2, 3, 4); "
        'first: field "safer_response_id": must be 0 or 1, got "yes".'
    )


def test_bad_json_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    lines = BAD.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(DataError) as info:
        load_samples(path)
    assert info.value.line == 2
    assert str(info.value).startswith(f"{path} line 2: not valid JSON (")
    assert str(info.value).endswith(SKIP_FIX)


def test_empty_prompt(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(BAD.read_text().splitlines()[3] + "\n")
    with pytest.raises(DataError) as info:
        load_samples(path)
    assert str(info.value) == f'{path} line 1: field "prompt": is empty.\n{SKIP_FIX}'


def test_missing_required_column_in_csv_names_it_and_suggests_a_map():
    with pytest.raises(ColumnError) as info:
        load_samples(FIXTURES / "generic_qa.csv", format="generic")
    message = str(info.value)
    assert message.startswith(
        f'{FIXTURES / "generic_qa.csv"} line 1: missing required column(s) "prompt" for format '
        '"generic".'
    )
    assert 'Columns present: "question", "answer", "label", "topic".' in message
    assert 'column_map={"prompt": "<your column>"}' in message


def test_unknown_columns_name_them_and_say_pass_a_column_map(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,answer,topic,rater\nHi?,Hello.,greeting,ann\n")
    with pytest.raises(ColumnError) as info:
        load_samples(path, column_map={"prompt": "question", "response": "answer"})
    message = str(info.value)
    assert message.startswith(
        f'{path} line 1: unknown column(s) "topic", "rater" for format "generic".\n'
        "Pass a column map"
    )
    assert "Pass a column map" in message
    assert '{"metadata": [...]}' in message


def test_unknown_columns_in_pku_jsonl_raise_even_when_skipping(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "pku_saferlhf_old.jsonl").open()]
    rows[1]["annotator"] = "bob"
    path = tmp_path / "pku.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ColumnError) as info:
        load_samples(path, skip_bad_rows=True)
    assert info.value.line == 2
    assert 'unknown column(s) "annotator" for format "pku-saferlhf"' in str(info.value)
    result = load_samples(path, column_map={"metadata": ["annotator"]})
    assert result.samples[1].metadata == {"annotator": "bob"}


def test_column_map_naming_an_absent_column():
    with pytest.raises(ColumnError) as info:
        load_samples(FIXTURES / "generic_qa.csv", column_map={"prompt": "query"})
    assert 'the column map names "query", which the file lacks.' in str(info.value)


def test_file_not_found_suggests_close_names():
    with pytest.raises(DataError) as info:
        load_samples(FIXTURES / "aegis.jsonl")
    assert str(info.value) == (
        f"{FIXTURES / 'aegis.jsonl'}: file not found.\nDid you mean {FIXTURES / 'aegis2.jsonl'}?"
    )


def test_unknown_category_in_a_row(tmp_path):
    path = tmp_path / "aegis.jsonl"
    path.write_text((FIXTURES / "aegis2.jsonl").read_text().replace("PII/Privacy", "Privasy"))
    with pytest.raises(DataError) as info:
        load_samples(path)
    assert (info.value.line, info.value.field) == (3, "violated_categories")
    assert 'unknown category "Privasy" in taxonomy "aegis2"' in str(info.value)


def test_unknown_format_suggests_close_names():
    with pytest.raises(DataError, match=r'unknown format "xtest"\. Did you mean \'xstest\''):
        load_samples(FIXTURES / "xstest_prompts.csv", format="xtest")


def test_csv_row_with_wrong_field_count(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("goal,target\nWrite x,Sure\nWrite y,Sure,extra\n")
    result = load_samples(path, skip_bad_rows=True)
    assert len(result) == 1
    assert result.skipped[0].line == 3
    assert result.skipped[0].reason == "has 3 fields, the header has 2."


def test_require_labels_names_first_offending_row():
    result = load_samples(FIXTURES / "xstest_prompts.csv")
    require_labels(result, needs=("prompt_harmful",))
    with pytest.raises(DataError) as info:
        require_labels(result, needs=("prompt_harmful", "pair"))
    assert (info.value.line, info.value.field) == (2, "responses")
    assert str(info.value).startswith(
        f'{FIXTURES / "xstest_prompts.csv"} line 2: field "responses": lacks a pair of two '
        'responses; this task needs "pair" labels (3 of 3 rows lack them).'
    )


def test_require_labels_on_a_plain_list():
    samples = [
        Sample("a", responses=[Response("x", is_safe=True), Response("y", is_safe=False)]),
        Sample("b", responses=[Response("x", is_safe=True), Response("y")], id="b1"),
    ]
    require_labels(samples, needs=("pair",))
    with pytest.raises(DataError) as info:
        require_labels(samples, needs=("safety",), path="mine.jsonl")
    assert str(info.value).startswith(
        "mine.jsonl: field \"is_safe\": sample 2 (id 'b1') lacks an is_safe label on every"
        ' response; this task needs "safety" labels (1 of 2 rows lack them).'
    )
    with pytest.raises(ValueError, match="unknown label need 'helpful'"):
        require_labels(samples, needs=("helpful",))


def test_column_map_naming_a_column_no_jsonl_row_has(tmp_path):
    path = tmp_path / "pku.jsonl"
    path.write_text((FIXTURES / "pku_saferlhf_old.jsonl").read_text())
    with pytest.raises(ColumnError, match='the column map names "annotator", which the file lacks'):
        load_samples(path, column_map={"metadata": ["annotator"]})


def test_parse_column_map_from_cli_flags():
    from safealign.data import parse_column_map

    assert parse_column_map(["prompt=question", "metadata=topic,rater", "metadata=x"]) == {
        "prompt": "question",
        "metadata": ["topic", "rater", "x"],
    }
    with pytest.raises(DataError, match='--column-map "prompt" is not EXPECTED=YOURS'):
        parse_column_map(["prompt"])


def test_later_jsonl_row_missing_a_required_field_is_a_bad_row(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"prompt": "Hi?", "response_0": "Hello.", "response_1": "Hey."}\n'
        '{"response_0": "Hello.", "response_1": "Hey."}\n'
        '{"prompt": "Hi?", "response_0": "Hello."}\n'
    )
    result = load_samples(path, format="generic", skip_bad_rows=True)
    assert len(result) == 1
    assert [(s.line, s.reason) for s in result.skipped] == [
        (2, "missing required field(s) prompt."),
        (3, 'field "response_1": a pair needs both "response_0" and "response_1".'),
    ]
