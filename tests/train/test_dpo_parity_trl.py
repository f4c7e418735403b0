"""Parity with TRL: our losses equal TRL DPOTrainer's on the same batch and the same models.

TRL's trainer computes its loss end to end (its own tokenization, collation and chunked
log-prob kernel); we compute per-sequence log-probs independently with a plain forward pass and
feed them to our pure functions. A tiny random Llama and a word-level tokenizer, both built
in-process, keep this a few seconds on CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("trl")

from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer

from safealign.train import combined_loss, dpo_loss, ipo_loss, sft_loss

TOLERANCE = 1e-5
"""Absolute for losses below 1 (every DPO loss here); relative above, as float32 rounding is."""
PAIRS = {
    "prompt": ["how do i pick a lock", "how do i make tea", "how do i break in"],
    "chosen": [" sorry i cannot help with that", " boil water first", " it is illegal"],
    "rejected": [" use a pin", " you can use a lock to make tea", " pick the lock"],
}
SPECIALS = ["<pad>", "<eos>", "<unk>"]
WORDS = [
    *SPECIALS,
    *sorted({word for texts in PAIRS.values() for t in texts for word in t.split()}),
]


def word_tokenizer() -> PreTrainedTokenizerFast:
    """Whitespace word-level tokenizer: TRL's prompt/completion split lands on word boundaries."""
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def tiny_llama(seed: int) -> LlamaForCausalLM:
    """Large initializer_range so log-ratios are far from 0 and the losses' curvature matters."""
    config = LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        initializer_range=0.3,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def trl_trainer(
    tmp_path: Path, **dpo_args: Any
) -> tuple[DPOTrainer, LlamaForCausalLM, LlamaForCausalLM]:
    policy, reference = tiny_llama(0), tiny_llama(1)
    args = DPOConfig(
        output_dir=str(tmp_path),
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        **dpo_args,
    )
    trainer = DPOTrainer(
        model=policy,
        ref_model=reference,
        args=args,
        train_dataset=Dataset.from_dict(PAIRS),
        processing_class=word_tokenizer(),
    )
    return trainer, policy, reference


def assert_matches_trl(ours: float, theirs: float) -> None:
    assert abs(ours - theirs) < TOLERANCE * max(1.0, abs(theirs)), (ours, theirs)


def collate(trainer: DPOTrainer, rows: list[int]) -> dict[str, torch.Tensor]:
    return trainer.data_collator([trainer.train_dataset[i] for i in rows])


def sequence_logps(
    model: LlamaForCausalLM, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs and completion token counts, by a plain forward pass."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    token_logps = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token_logps = token_logps.gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    mask = batch["completion_mask"][:, 1:].to(token_logps)
    return (token_logps * mask).sum(dim=1), mask.sum(dim=1)


def our_inputs(
    policy: LlamaForCausalLM, reference: LlamaForCausalLM, batch: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The tensors our losses take, chosen first then rejected as TRL's collator stacks them."""
    sums, lengths = sequence_logps(policy, batch)
    with torch.no_grad():
        ref_sums, _ = sequence_logps(reference, batch)
    policy_chosen, policy_rejected = sums.chunk(2)
    ref_chosen, ref_rejected = ref_sums.chunk(2)
    chosen_lengths, rejected_lengths = lengths.chunk(2)
    return {
        "policy_chosen": policy_chosen,
        "policy_rejected": policy_rejected,
        "ref_chosen": ref_chosen,
        "ref_rejected": ref_rejected,
        "chosen_lengths": chosen_lengths,
        "rejected_lengths": rejected_lengths,
    }


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_dpo_loss_metrics_and_gradients_match_trl(tmp_path: Path, beta: float) -> None:
    trainer, policy, reference = trl_trainer(tmp_path, beta=beta, loss_type=["sigmoid"])
    batch = collate(trainer, [0, 1, 2])

    trl_loss = trainer.compute_loss(trainer.model, batch)
    trl_loss.backward()
    trl_grads = [p.grad.clone() for p in policy.parameters()]
    policy.zero_grad()

    inputs = our_inputs(policy, reference, batch)
    loss, metrics = dpo_loss(**{k: v for k, v in inputs.items() if "lengths" not in k}, beta=beta)
    loss.backward()

    assert loss.item() > 0.05  # the margins are not all ~0, so the test has teeth
    assert_matches_trl(loss.item(), trl_loss.item())
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert metrics[key].item() == pytest.approx(trainer._metrics["train"][key][-1], abs=1e-5)
    for ours, theirs in zip((p.grad for p in policy.parameters()), trl_grads, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_ipo_loss_matches_trl_with_token_counts(tmp_path: Path) -> None:
    trainer, policy, reference = trl_trainer(tmp_path, beta=0.1, loss_type=["ipo"])
    batch = collate(trainer, [0, 1, 2])
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch).item()
        loss, _ = ipo_loss(**our_inputs(policy, reference, batch), beta=0.1)
    assert_matches_trl(loss.item(), trl_loss)


def test_label_smoothing_matches_trl_on_single_pairs(tmp_path: Path) -> None:
    """TRL 1.16's "sigmoid" has no label smoothing; its "aot" loss applies the same cDPO formula
    to sorted log-ratios, and with one pair per batch sorting is the identity, so it is cDPO."""
    trainer, policy, reference = trl_trainer(
        tmp_path, beta=0.5, loss_type=["aot"], label_smoothing=0.2
    )
    for row in range(len(PAIRS["prompt"])):
        batch = collate(trainer, [row])
        with torch.no_grad():
            trl_loss = trainer.compute_loss(trainer.model, batch).item()
            inputs = our_inputs(policy, reference, batch)
            del inputs["chosen_lengths"], inputs["rejected_lengths"]
            loss, _ = dpo_loss(**inputs, beta=0.5, label_smoothing=0.2)
        assert_matches_trl(loss.item(), trl_loss)


def test_sft_and_weighted_combination_match_trl(tmp_path: Path) -> None:
    trainer, policy, reference = trl_trainer(
        tmp_path, beta=0.1, loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.3]
    )
    batch = collate(trainer, [0, 1, 2])
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, batch).item()
        inputs = our_inputs(policy, reference, batch)
        total, metrics = combined_loss({"dpo": 1.0, "sft": 0.3}, {"dpo": {"beta": 0.1}}, **inputs)
        sft, _ = sft_loss(inputs["policy_chosen"], chosen_lengths=inputs["chosen_lengths"])
    assert_matches_trl(total.item(), trl_loss)
    assert metrics["sft/loss"].item() == pytest.approx(sft.item())
