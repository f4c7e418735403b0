"""Samples survive to_dict/from_dict and the unified JSONL file exactly."""

from __future__ import annotations

import json
from pathlib import Path

from safealign.data import Message, Response, Sample, load_samples, save_samples

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def full_sample() -> Sample:
    return Sample(
        prompt="And how do I hide it?",
        context=[Message("user", "How do I pick a lock?"), Message("assistant", "Why?")],
        responses=[
            Response("I can't help hide a break-in.", is_safe=True, severity=0, refusal=True),
            Response(
                "Wipe the door handle.",
                is_safe=False,
                categories=["Violence"],
                severity=2,
                refusal=False,
                label="unsafe",
            ),
        ],
        prompt_harmful=True,
        prompt_categories=["Economic Crime"],
        taxonomy="pku-saferlhf",
        better=1,
        safer=0,
        id="s1",
        source="test",
        metadata={"k": [1, 2]},
    )


def test_to_dict_from_dict_round_trip():
    sample = full_sample()
    data = json.loads(json.dumps(sample.to_dict()))
    assert Sample.from_dict(data) == sample


def test_save_and_load_unified_jsonl(tmp_path):
    samples = [full_sample(), Sample(prompt="Hello?")]
    out = save_samples(samples, tmp_path / "out" / "samples.jsonl")
    assert len(out.read_text().splitlines()) == 2
    result = load_samples(out)
    assert result.format == "safealign"
    assert result.samples == samples
    assert result.lines == [1, 2]


def test_converted_source_reloads_identically(tmp_path):
    original = load_samples(FIXTURES / "pku_saferlhf.jsonl")
    save_samples(original, tmp_path / "pku.jsonl")
    again = load_samples(tmp_path / "pku.jsonl", format="safealign")
    assert again.samples == original.samples


def test_unified_format_rejects_unknown_response_key(tmp_path):
    row = Sample(prompt="Hi", responses=[Response("Hello")]).to_dict()
    row["responses"][0]["score"] = 0.3
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    result = load_samples(path, skip_bad_rows=True)
    assert result.samples == []
    assert result.skipped[0].line == 1
    assert 'field "responses[0]": unknown key(s) score.' in result.skipped[0].reason
