"""Harm Direction Removal end to end on a tiny model: harmful answers from the shared data,
the project's SFT, the adapter as harm vector, an edit-area-limited subtraction, loading."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from safealign.models import load_model, tiny_model
from safealign.steer import ModelFingerprint, SteeringVector
from safealign.steer.config import HarmVectorConfig, KnowledgeEditConfig, SafetyArithmeticConfig
from safealign.steer.harm_data import contrast_pairs, harmful_qa
from safealign.steer.hdr import build_harm_vector, safety_arithmetic
from safealign.steer.knowledge_edit import edit_instances, knowledge_edit


def test_harmful_answers_come_labelled_from_the_sources(shared_data_dir):
    samples = harmful_qa(["c2eval", "do-not-answer", "hh-rlhf"], 30, str(shared_data_dir))
    assert len(samples) == 30
    assert {s.source.split(":")[0] for s in samples} == {"c2eval", "do-not-answer", "hh-rlhf"}
    pairs = contrast_pairs(["c2eval", "do-not-answer"], 500, str(shared_data_dir))
    assert len(pairs) > 100 and all(p.safe_answer != p.unsafe_answer for p in pairs)
    assert len(edit_instances(str(shared_data_dir))) == 43


def test_harm_vector_then_removal_in_the_edit_area(tmp_path, shared_data_dir):
    base = tmp_path / "base"
    tiny = tiny_model(seed=0)
    tiny.model.save_pretrained(base)
    tiny.tokenizer.save_pretrained(base)
    harm = build_harm_vector(
        HarmVectorConfig(
            model=str(base),
            num_examples=8,
            data_dir=str(shared_data_dir),
            max_steps=2,
            batch_size=2,
            gradient_accumulation_steps=1,
            max_length=128,
            dtype="float32",
            output_dir=str(tmp_path / "harm"),
        )
    )
    assert (harm.adapter / "adapter_config.json").is_file() and harm.num_examples == 8
    edited = knowledge_edit(
        KnowledgeEditConfig(
            model=str(base),
            layer=1,
            steps=2,
            data_dir=str(shared_data_dir),
            output_dir=str(tmp_path / "edit"),
        )
    )
    icv = SteeringVector(
        layer_vectors={i: torch.ones(32) for i in range(2)},
        model=tiny.name,
        fingerprint=ModelFingerprint.of(tiny.model),
        method="mean-difference",
        read_position="last",
        source="test",
        num_pairs=2,
    ).save(tmp_path / "icv.safetensors")
    result = safety_arithmetic(
        SafetyArithmeticConfig(
            icv=str(icv),
            icv_alpha=0.2,
            icv_layers=[1],
            target=str(edited),
            harm_vector=str(tmp_path / "harm"),
            edit_area_from=str(base),
            edit_neighbours=0,
            scale=3.0,
            top_k=0.1,
            output=str(tmp_path / "repaired"),
        )
    )
    assert result.layers == [1]
    before = load_file(edited / "model.safetensors")
    after = load_file(tmp_path / "repaired" / "model.safetensors")
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all(".layers.1." in n for n in changed)
    manifest = json.loads((tmp_path / "repaired" / "safealign_model.json").read_text())
    assert manifest["provenance"]["method"] == "harm-direction-removal"
    assert manifest["steering"][0]["layers"] == [1]  # the ICV steers only the layers asked for
    both = load_model(tmp_path / "repaired")  # HDR weights + the ICV attached on load
    assert both.name.endswith("repaired)") and "steer:icv@0.2" in both.name
    assert len(both.attachments) == 1


def test_benign_pairs_make_refusing_the_unsafe_side(shared_data_dir):
    from safealign.data.refusal import REFUSAL_PHRASES

    benign = contrast_pairs(["alpaca-refusal"], 40, str(shared_data_dir))
    assert len(benign) == 40 and {p.source for p in benign} == {"alpaca-refusal"}
    opening = [p.unsafe_answer[:80].lower() for p in benign]
    # the unsafe side is a Do-Not-Answer refusal (action 0); the safe side the helpful answer
    assert sum(any(k.lower() in o for k in REFUSAL_PHRASES) for o in opening) >= 36
    assert not any(p.safe_answer.startswith(p.unsafe_answer[:20]) for p in benign)
    mixed = contrast_pairs(["c2eval", "do-not-answer", "alpaca-refusal"], 48, str(shared_data_dir))
    # benign pairs outnumber harmful ones in the data; a mixed vector takes half of each
    assert sum(p.source == "alpaca-refusal" for p in mixed) == 24 and len(mixed) == 48
