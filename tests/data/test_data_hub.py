"""The hub code path (datasets.load_dataset), with the hub replaced by an in-memory dataset."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from safealign.data import load_samples
from safealign.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def test_hub_id_goes_through_load_dataset(monkeypatch):
    rows = [json.loads(line) for line in (FIXTURES / "pku_saferlhf.jsonl").open()]
    calls = []

    def fake_load_dataset(path, split=None, **kwargs):
        calls.append((path, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    result = load_samples("PKU-Alignment/PKU-SafeRLHF", split="test")
    assert calls == [("PKU-Alignment/PKU-SafeRLHF", "test")]
    assert result.format == "pku-saferlhf"
    assert result.source == "PKU-Alignment/PKU-SafeRLHF"
    assert result.samples == load_samples(FIXTURES / "pku_saferlhf.jsonl").samples


def test_unreachable_hub_says_what_to_do(monkeypatch):
    def unreachable(path, split=None, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataError) as info:
        load_samples("nvidia/Aegis-AI-Content-Safety-Dataset-2.0")
    message = str(info.value)
    assert "could not load hub dataset nvidia/Aegis-AI-Content-Safety-Dataset-2.0" in message
    assert "pass the local file" in message


def test_missing_local_file_is_not_mistaken_for_a_hub_id(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_samples("data/pairs.jsonl")
