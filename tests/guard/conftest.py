"""Fixtures shared by the guard tests."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from safealign.models.encoder import embedded_encoder_path


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    """A 2-layer, 32-wide random BERT (dropout on, as BertConfig's default) saved with the
    embedded MiniLM tokenizer."""
    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
