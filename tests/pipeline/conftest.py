"""Fixtures of the `safealign run` tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from safealign.models import tiny_model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    """A tiny random Llama saved as a model folder (the run's `model:`)."""
    folder = tmp_path_factory.mktemp("tiny") / "model"
    tiny = tiny_model(seed=0)
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder
