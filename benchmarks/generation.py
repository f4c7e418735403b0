"""Tokens per second of batched vs one-prompt-at-a-time generation on the embedded model.

Run: .venv/bin/python benchmarks/generation.py [--prompts 32] [--new-tokens 48] [--dtype auto]
Both modes run in the same process on the same prompts, so the ratio is a fair comparison.
"""

from __future__ import annotations

import argparse
import time

import torch

from safealign.models import GenerationConfig, generate, load_model

PROMPTS = [
    "Explain photosynthesis to a ten-year-old.",
    "Write a short poem about autumn leaves.",
    "What are three tips for learning a new language?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "How does a refrigerator keep food cold?",
    "Give me a recipe idea that uses chickpeas.",
    "What is the difference between weather and climate?",
    "Describe the water cycle.",
]


def tokens_per_second(loaded, prompts, config) -> tuple[float, int]:
    start = time.perf_counter()
    results = generate(loaded, prompts, config, progress=False)
    elapsed = time.perf_counter() - start
    tokens = sum(s.num_new_tokens for samples in results for s in samples)
    return tokens / elapsed, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    loaded = load_model("embedded", dtype=args.dtype)
    prompts = [PROMPTS[i % len(PROMPTS)] + f" (variant {i})" for i in range(args.prompts)]
    generate(loaded, prompts[:2], GenerationConfig(max_new_tokens=4), progress=False)  # warm-up

    batched = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=args.batch_size)
    single = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=1)
    batched_tps, batched_tokens = tokens_per_second(loaded, prompts, batched)
    single_tps, single_tokens = tokens_per_second(loaded, prompts, single)

    print(f"model: {loaded.name}  dtype: {loaded.model.dtype}  threads: {args.threads}")
    print(f"prompts: {len(prompts)}  max new tokens: {args.new_tokens}")
    print(f"one at a time : {single_tps:8.1f} tok/s  ({single_tokens} tokens)")
    print(f"batched ({args.batch_size:>3}) : {batched_tps:8.1f} tok/s  ({batched_tokens} tokens)")
    print(f"ratio batched / one-at-a-time: {batched_tps / single_tps:.1f}x")


if __name__ == "__main__":
    main()
