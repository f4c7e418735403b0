"""Tokens per second of greedy generation on the embedded model: the PyTorch path at batch 16
(transformers' generate, what every verb used before) vs the default path now (batch 64;
CTranslate2 for float32 models, torch for bf16 ones), batched and one prompt at a time, with how
many outputs agree token for token (in bf16 another batch shape can flip near-tied tokens).

Run: .venv/bin/python benchmarks/generation.py [--prompts 128] [--new-tokens 48] [--dtype auto]
Every mode runs in the same process on the same prompts, so the ratios are fair comparisons;
`--rounds 2` alternates the paths twice and keeps each one's best time (less noise from other
jobs on the machine). The first call of the new path converts the model once (not timed).
"""

from __future__ import annotations

import argparse
import time

import torch

from safealign.models import GenerationConfig, generate, load_model
from safealign.models.generation import choose_backend

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


def timed(loaded, prompts, config) -> tuple[float, int, list[str]]:
    start = time.perf_counter()
    results = generate(loaded, prompts, config, progress=False)
    elapsed = time.perf_counter() - start
    tokens = sum(s.num_new_tokens for samples in results for s in samples)
    return elapsed, tokens, [samples[0].output for samples in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument(
        "--previous-batch-size", type=int, default=16, help="the previous default batch"
    )
    parser.add_argument(
        "--batch-size", type=int, default=GenerationConfig.batch_size, help="the default now"
    )
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--single-prompts", type=int, default=8, help="prompts timed one by one")
    parser.add_argument("--int8", action="store_true", help="also time CTranslate2 int8")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    loaded = load_model("embedded", dtype=args.dtype)
    prompts = [PROMPTS[i % len(PROMPTS)] + f" (variant {i})" for i in range(args.prompts)]
    paths = {"torch (previous)": "torch", "default now": "auto"}
    for backend in paths.values():  # warm-up, and the one-time conversion
        generate(
            loaded, prompts[:2], GenerationConfig(max_new_tokens=4, backend=backend), progress=False
        )
    print(f"model: {loaded.name}  dtype: {loaded.model.dtype}  threads: {args.threads}")
    print(f"prompts: {len(prompts)}  max new tokens: {args.new_tokens}")
    print(f"default path runs on: {choose_backend(loaded, GenerationConfig())}")
    modes = [
        (f"{name}, {kind}", backend, size, subset)
        for name, backend in paths.items()
        for kind, size, subset in [
            (
                "batched",
                args.previous_batch_size if backend == "torch" else args.batch_size,
                prompts,
            ),
            ("one at a time", 1, prompts[: args.single_prompts]),
        ]
    ]
    best: dict[str, tuple[float, int, list[str]]] = {}
    for _ in range(args.rounds):
        for label, backend, size, subset in modes:
            config = GenerationConfig(
                max_new_tokens=args.new_tokens, batch_size=size, backend=backend
            )
            run = timed(loaded, subset, config)
            if label not in best or run[0] < best[label][0]:
                best[label] = run
    if args.int8:
        config = GenerationConfig(
            max_new_tokens=args.new_tokens,
            batch_size=args.batch_size,
            backend="ctranslate2",
            ctranslate2_compute_type="int8_float32",
        )
        generate(loaded, prompts[:2], config, progress=False)
        best["ctranslate2 int8 (changes outputs), batched"] = timed(loaded, prompts, config)
    print(
        f"batched: previous = torch at batch {args.previous_batch_size}, "
        f"now = default path at batch {args.batch_size}"
    )
    for label, (seconds, tokens, _) in best.items():
        print(f"{label:45s}: {tokens / seconds:8.1f} tok/s  ({tokens} tokens, {seconds:.2f} s)")
    for kind in ("batched", "one at a time"):
        old, new = best[f"torch (previous), {kind}"], best[f"default now, {kind}"]
        same = sum(a == b for a, b in zip(old[2], new[2], strict=True))
        print(
            f"{kind}: default now / previous = {(new[1] / new[0]) / (old[1] / old[0]):.2f}x "
            f"tok/s; identical outputs {same}/{len(old[2])}"
        )
    if args.int8:
        old = best["torch (previous), batched"]
        int8 = best["ctranslate2 int8 (changes outputs), batched"]
        same = sum(a == b for a, b in zip(old[2], int8[2], strict=True))
        print(
            f"int8 / previous = {(int8[1] / int8[0]) / (old[1] / old[0]):.2f}x; identical "
            f"outputs {same}/{len(old[2])}"
        )


if __name__ == "__main__":
    main()
