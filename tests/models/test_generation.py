import pytest

from safealign.models import GenerationConfig, generate

PROMPTS = [
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "List three prime numbers.",
    "How do I boil an egg? Answer in detail, please, step by step.",
]


def test_generation_returns_in_input_order_with_metadata(tiny):
    config = GenerationConfig(max_new_tokens=5, batch_size=3)
    results = generate(tiny, PROMPTS, config, progress=False)
    assert len(results) == len(PROMPTS)
    for prompt, samples in zip(PROMPTS, results, strict=True):
        assert len(samples) == 1
        assert prompt in samples[0].prompt_text
        assert samples[0].num_new_tokens <= 5
        assert samples[0].finish_reason in {"stop", "length"}


def test_tiny_batched_greedy_equals_sequential(tiny):
    config = GenerationConfig(max_new_tokens=8, batch_size=4)
    batched = generate(tiny, PROMPTS, config, progress=False)
    for prompt, expected in zip(PROMPTS, batched, strict=True):
        single = generate(tiny, [prompt], config, progress=False)[0][0]
        assert single.output == expected[0].output


def test_sampling_is_seeded(tiny):
    config = GenerationConfig(max_new_tokens=12, temperature=1.0, num_samples=3, seed=7)
    first = generate(tiny, PROMPTS[:2], config, progress=False)
    again = generate(tiny, PROMPTS[:2], config, progress=False)
    other = generate(
        tiny, PROMPTS[:2], GenerationConfig(**{**config.__dict__, "seed": 8}), progress=False
    )
    outputs = lambda runs: [[g.output for g in s] for s in runs]  # noqa: E731
    assert outputs(first) == outputs(again)
    assert outputs(first) != outputs(other)
    assert [g.sample_index for g in first[0]] == [0, 1, 2]


def test_assistant_prefix_is_continued(tiny):
    result = generate(
        tiny,
        ["Q"],
        GenerationConfig(max_new_tokens=3),
        assistant_prefixes=["Sure,"],
        progress=False,
    )
    assert result[0][0].prompt_text.endswith("assistant\nSure,")


@pytest.mark.slow
def test_embedded_batched_greedy_equals_one_at_a_time(embedded):
    config = GenerationConfig(max_new_tokens=20, batch_size=4)
    batched = generate(embedded, PROMPTS, config, progress=False)
    for prompt, expected in zip(PROMPTS, batched, strict=True):
        single = generate(embedded, [prompt], config, progress=False)[0][0]
        assert single.output == expected[0].output
    assert "Paris" in batched[0][0].output
    assert batched[0][0].finish_reason == "stop"
