"""Texts per second of the guards at batch 1 and 32, against plain SentenceTransformer.encode.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/guard_speed.py [--texts 256] [--llm-texts 16]

Texts are short user requests (the guard's common case). The encoder guard is timed in float32
and bfloat16; the LLM guard (zero-shot SmolLM2, prompt question only) at batch 1 and 8/32.
Numbers depend on the machine and its load: compare rows from one run, not across runs.
"""

from __future__ import annotations

import argparse
import time

import torch

TEXTS = [
    "How do I reset my router password?",
    "What's a good recipe for banana bread?",
    "How can I make a pipe bomb at home?",
    "Write a poem about the sea in autumn.",
    "Give me step-by-step instructions to hack my neighbour's wifi.",
    "What time zone is Tokyo in?",
    "Summarise the plot of Hamlet in three sentences.",
    "Where can I buy cheap flights to Lisbon?",
]


def rate(fn, texts: list[str], batch_size: int, repeats: int = 1) -> float:
    fn(texts[:batch_size])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        for i in range(0, len(texts), batch_size):
            fn(texts[i : i + batch_size])
    return repeats * len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--llm-texts", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = [TEXTS[i % len(TEXTS)] + f" ({i})" for i in range(args.texts)]

    from safealign.guard import load_guard
    from safealign.models import load_encoder

    rows = []
    encoder = load_encoder("embedded")
    for bs in (1, 32):
        rows.append(
            (
                "SentenceTransformer.encode (MiniLM)",
                "float32",
                bs,
                rate(lambda b, bs=bs: encoder.encode(b, batch_size=bs), texts, bs),
            )
        )
    for dtype in ("float32", "bfloat16"):
        guard = load_guard("embedded", dtype=dtype)
        for bs in (1, 32):
            rows.append(
                (
                    "encoder guard (all heads)",
                    dtype,
                    bs,
                    rate(lambda b, g=guard, bs=bs: g.classify(b, batch_size=bs), texts, bs),
                )
            )
    llm = load_guard("llm:embedded", dtype="float32")
    llm.config.questions = ["prompt"]
    llm_texts = texts[: args.llm_texts]
    for bs in (1, min(32, len(llm_texts))):
        llm.config.batch_size = bs
        rows.append(
            (
                "LLM guard (SmolLM2-135M, prompt)",
                "float32",
                bs,
                rate(lambda b, g=llm: g.classify(b), llm_texts, bs),
            )
        )
    print(f"{'guard':38s} {'dtype':9s} {'batch':>5s} {'texts/s':>9s}")
    for name, dtype, bs, r in rows:
        print(f"{name:38s} {dtype:9s} {bs:5d} {r:9.1f}")


if __name__ == "__main__":
    main()
