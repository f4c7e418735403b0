"""Pairs from samples: BFPO orders by helpfulness with flags, DPO by harmlessness; truncation."""

from __future__ import annotations

import json

import pytest

from safealign.data.schema import Message, Response, Sample
from safealign.errors import DataError
from safealign.models import tiny_tokenizer
from safealign.train.config import TrainConfig
from safealign.train.losses import LossConfig
from safealign.train.pairs import pairs_from_samples, read_samples, tokenize_pairs


def pku_sample(better: int, safer: int, safe: tuple[bool, bool]) -> Sample:
    return Sample(
        prompt="a request",
        context=[Message("user", "hi"), Message("assistant", "hello")],
        responses=[
            Response("answer zero", is_safe=safe[0]),
            Response("answer one", is_safe=safe[1]),
        ],
        better=better,
        safer=safer,
        id="x",
    )


def test_bfpo_orders_by_better_and_keeps_both_flags():
    [pair], skipped = pairs_from_samples(
        [pku_sample(better=1, safer=0, safe=(True, False))], "bfpo"
    )
    assert not skipped
    assert (pair.chosen, pair.rejected) == ("answer one", "answer zero")
    assert (pair.chosen_safe, pair.rejected_safe) == (False, True)
    assert [m.content for m in pair.conversation] == ["hi", "hello", "a request"]


def test_dpo_orders_by_safer():
    [pair], _ = pairs_from_samples([pku_sample(better=1, safer=0, safe=(True, False))], "dpo")
    assert (pair.chosen, pair.rejected) == ("answer zero", "answer one")
    assert (pair.chosen_safe, pair.rejected_safe) == (True, False)


def test_sft_and_chosen_rejected_and_skips_with_reasons():
    single = Sample("q", responses=[Response("only answer")])
    unlabelled = Sample("q", responses=[Response("a"), Response("b")], better=1)
    no_better = Sample(
        "q", responses=[Response("a", is_safe=True), Response("b", is_safe=True)], id="nb"
    )
    [sft], _ = pairs_from_samples([single], "sft")
    assert sft.chosen == "only answer" and sft.rejected is None
    [plain], _ = pairs_from_samples([unlabelled], "chosen_rejected")
    assert (plain.chosen, plain.rejected) == ("b", "a")
    pairs, skipped = pairs_from_samples([unlabelled, no_better, single], "bfpo")
    assert pairs == []
    assert skipped == [
        "sample 0: BFPO needs a safety label (is_safe) on both responses",
        "sample nb: BFPO orders pairs by helpfulness, but `better` is missing",
        "sample 2: BFPO needs two responses, got 1",
    ]


def test_truncation_is_counted_and_keeps_prompt_end_and_response_start():
    tokenizer = tiny_tokenizer()  # byte-level: one token per character
    long_prompt = Sample("p" * 300, responses=[Response("r" * 10), Response("s" * 10)], safer=0)
    long_answer = Sample("short", responses=[Response("r" * 500), Response("s")], safer=0)
    fits = Sample("short", responses=[Response("r"), Response("s")], safer=0)
    pairs, _ = pairs_from_samples([long_prompt, long_answer, fits], "dpo")
    tokenized, truncated = tokenize_pairs(pairs, tokenizer, max_length=120, max_prompt_length=64)
    assert truncated == 2
    for pair in tokenized:
        for side in (pair.chosen, pair.rejected):
            assert len(side.input_ids) <= 120
            assert sum(1 - m for m in side.response_mask) <= 64
    assert tokenized[0].chosen.truncated and not tokenized[2].chosen.truncated


def test_auto_pair_mode_follows_the_method():
    assert TrainConfig(loss=LossConfig(name="bfpo")).pair_mode == "bfpo"
    assert TrainConfig(loss=LossConfig(name="ipo")).pair_mode == "dpo"
    assert TrainConfig(loss=LossConfig(name="sft")).pair_mode == "sft"
    assert TrainConfig(objective="reward").pair_mode == "chosen_rejected"
    assert TrainConfig(objective="cost").pair_mode == "dpo"
    with pytest.raises(ValueError, match="max_prompt_length"):
        TrainConfig(max_length=100, max_prompt_length=100)


def test_read_samples_reads_safealign_sample_jsonl(tmp_path):
    path = tmp_path / "pairs.jsonl"
    sample = pku_sample(better=0, safer=1, safe=(False, True))
    path.write_text(json.dumps(sample.to_dict()) + "\n")
    assert [s.to_dict() for s in read_samples(path)] == [sample.to_dict()]


@pytest.mark.shared_data
def test_pku_format_c2eval_gives_bfpo_and_dpo_pairs(shared_data_dir):
    samples = read_samples(shared_data_dir / "course_correction_c2eval/eval/test.jsonl", limit=40)
    bfpo, _ = pairs_from_samples(samples, "bfpo")
    dpo, _ = pairs_from_samples(samples, "dpo")
    assert len(bfpo) == len(dpo) == 40
    for sample, b, d in zip(samples, bfpo, dpo, strict=True):
        assert b.chosen == sample.responses[sample.better].text
        assert d.chosen == sample.responses[sample.safer].text
        assert b.chosen_safe == sample.responses[sample.better].is_safe


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"prompt": "x"}\n\x00\x00\xff', "is a binary file"),
        (b'{"prompt": "x", "responses": [{"text": "caf\xe9"}]}\n', "line 1: is not UTF-8 text"),
    ],
)
def test_unreadable_sample_jsonl_is_a_named_data_error(tmp_path, content, reason):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        read_samples(path)
    assert str(caught.value).startswith(f"{path}") and reason in str(caught.value)
