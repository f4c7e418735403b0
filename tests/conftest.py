"""Fixtures shared by the whole suite: tiny random models, the embedded model, shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from safealign.data.catalog import shared_data_dir as resolve
from safealign.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(2)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real public datasets, found as every verb finds them (`safealign.data.catalog`);
    tests using them skip with the reason when they are absent."""
    try:
        return resolve()
    except DataError as exc:
        pytest.skip(str(exc).replace("\n", " "))


@pytest.fixture()
def tiny():
    """A fresh tiny random Llama with a byte-level ChatML tokenizer (milliseconds to build)."""
    from safealign.models import tiny_model

    return tiny_model(seed=0)


@pytest.fixture(scope="session")
def embedded():
    """The embedded SmolLM2-135M-Instruct in float32, loaded once per session. Do not train it
    in place: copy it (copy.deepcopy) or load your own."""
    from safealign.models import load_model

    return load_model("embedded", dtype="float32")
