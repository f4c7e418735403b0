import contextlib
import math

import torch

from safealign.models import sequence_logprobs, tokenize_prompt_response
from safealign.models.chat import render_prompt


def manual_response_logprob(loaded, prompt: str, response: str) -> tuple[float, int]:
    """Sum of log p(response token | everything before) computed one position at a time."""
    tokenizer = loaded.tokenizer
    prompt_ids = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    response_ids.append(tokenizer.eos_token_id)
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logits = loaded.model(input_ids=ids).logits[0]
    total = 0.0
    for offset, token in enumerate(response_ids):
        position = len(prompt_ids) + offset - 1
        row = logits[position].double()
        total += (row[token] - torch.logsumexp(row, dim=0)).item()
    return total, len(response_ids)


def test_sequence_logprobs_match_manual_computation(tiny):
    prompts = ["What is 2+2?", "A much longer prompt that needs padding in a batch, surely."]
    responses = ["4", "Here is a longer answer with several tokens."]
    result = sequence_logprobs(tiny, prompts, responses, batch_size=2)
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        expected_sum, count = manual_response_logprob(tiny, prompt, response)
        assert result.num_tokens[i].item() == count
        assert math.isclose(result.sum[i].item(), expected_sum, rel_tol=1e-4, abs_tol=1e-4)
        assert math.isclose(result.mean[i].item(), expected_sum / count, rel_tol=1e-4)


def test_padding_does_not_change_logprobs(tiny):
    prompts = ["short", "a considerably longer prompt " * 4]
    responses = ["yes", "no it is not"]
    batched = sequence_logprobs(tiny, prompts, responses, batch_size=2)
    single = [sequence_logprobs(tiny, [p], [r]) for p, r in zip(prompts, responses, strict=True)]
    for i, one in enumerate(single):
        assert torch.allclose(batched.sum[i], one.sum[0], atol=1e-4)


def test_tokenize_prompt_response_masks_only_the_response(tiny):
    pair = tokenize_prompt_response(tiny.tokenizer, "Q?", "Answer")
    n_response = len(tiny.tokenizer("Answer", add_special_tokens=False)["input_ids"]) + 1
    assert sum(pair.response_mask) == n_response
    assert pair.response_mask[-n_response:] == [1] * n_response
    assert pair.input_ids[-1] == tiny.tokenizer.eos_token_id


def test_truncation_keeps_prompt_end_and_response_start(tiny):
    pair = tokenize_prompt_response(
        tiny.tokenizer, "x" * 200, "y" * 100, max_length=120, max_prompt_length=80
    )
    assert pair.truncated
    assert len(pair.input_ids) == 120
    assert pair.response_mask.count(0) == 80
    assert tiny.tokenizer.decode(pair.input_ids[-40:]) == "y" * 40


def test_next_token_logits_batched_equal_one_at_a_time_and_full_forward(tiny):
    from safealign.models import next_token_logits

    texts = ["a short one", "a much longer text than the others, with commas", "mid length!"]
    batched = next_token_logits(tiny, texts, batch_size=3)
    for text, row in zip(texts, batched, strict=True):
        ids = torch.tensor([tiny.tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            full = tiny.model(ids).logits[0, -1].float()  # every position computed
        assert torch.allclose(row, full, atol=1e-5)
        assert torch.allclose(next_token_logits(tiny, [text])[0], full, atol=1e-5)


def test_packed_logprobs_equal_padded_and_share_prompts(tiny):
    from safealign.models.logprobs import (
        batch_sequence_logprobs,
        collate_pairs,
        pack_sequences,
        packed_sequence_logprobs,
    )

    prompts = ["What is 2+2?", "A much longer prompt, long enough to need padding.", "What is 2+2?"]
    responses = ["4", "Here is a longer answer with several tokens.", "Four, I believe."]
    sequences = [
        tokenize_prompt_response(tiny.tokenizer, p, r)
        for p, r in zip(prompts, responses, strict=True)
    ]
    pad_id = tiny.tokenizer.pad_token_id
    packed = pack_sequences(sequences, pad_id)
    assert packed.input_ids.shape[0] == 2  # the two "What is 2+2?" sequences share one row
    assert packed.targets.numel() == sum(sum(s.response_mask) for s in sequences)
    with torch.no_grad():
        padded = batch_sequence_logprobs(tiny.model, **collate_pairs(sequences, pad_id))
        result = packed_sequence_logprobs(tiny.model, packed)
        tiny.model.config._attn_implementation = "eager"  # additive float mask instead of bool
        eager = packed_sequence_logprobs(tiny.model, packed)
    for other in (result, eager):
        assert torch.equal(other.num_tokens, padded.num_tokens)
        assert torch.allclose(other.sum, padded.sum, atol=1e-4)
    manual, _ = manual_response_logprob(tiny, prompts[2], responses[2])
    assert math.isclose(result.sum[2].item(), manual, rel_tol=1e-4, abs_tol=1e-4)


def test_short_bfloat16_rows_take_the_math_kernel_with_the_same_logprobs(tiny, monkeypatch):
    """On a CPU, bf16 rows up to MATH_ATTENTION_MAX_WIDTH use the math SDPA kernel (faster
    there); float32, long rows and eager attention keep the default; log-probs agree."""
    from safealign.models import logprobs
    from safealign.models.logprobs import pack_sequences, packed_sequence_logprobs

    def kernel(model, width) -> bool:
        return not isinstance(logprobs.short_row_attention(model, width), contextlib.nullcontext)

    assert not kernel(tiny.model, 64)  # float32
    tiny.model.to(torch.bfloat16)
    assert tiny.model.config._attn_implementation == "sdpa"
    assert kernel(tiny.model, 64) and kernel(tiny.model, logprobs.MATH_ATTENTION_MAX_WIDTH)
    assert not kernel(tiny.model, logprobs.MATH_ATTENTION_MAX_WIDTH + 1)

    sequences = [
        tokenize_prompt_response(tiny.tokenizer, "What is 2+2?", answer)
        for answer in ("4", "Four, I believe.")
    ]
    packed = pack_sequences(sequences, tiny.tokenizer.pad_token_id)
    with torch.no_grad():
        math_kernel = packed_sequence_logprobs(tiny.model, packed)
        monkeypatch.setattr(logprobs, "MATH_ATTENTION_MAX_WIDTH", 0)
        default_kernel = packed_sequence_logprobs(tiny.model, packed)
    assert torch.allclose(math_kernel.sum, default_kernel.sum, rtol=2e-2, atol=0.1)
    tiny.model.config._attn_implementation = "eager"
    assert not kernel(tiny.model, 64)
