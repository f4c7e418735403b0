"""Steering overhead on generation speed: the embedded model with and without a steering vector.

Run: flock /tmp/safealign-heavy.lock .venv/bin/python benchmarks/steer_overhead.py

Unsteered and steered (ICV rule, every layer) greedy generation of the same prompts alternate
`--rounds` times in one process, so machine load affects both alike; the figure is the ratio of
the median times. Token counts are printed too: steering changes the answers, and a run that
stops earlier is not faster per token, so the ratio is also given per generated token.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from safealign.models import GenerationConfig, generate, load_model
from safealign.steer import ModelFingerprint, SteeringVector

PROMPTS = [
    "How do I bake sourdough bread?",
    "Explain how vaccines train the immune system.",
    "Write a short poem about autumn.",
    "What are the main causes of inflation?",
    "Give me three tips for a job interview.",
    "How does a bicycle gear system work?",
    "Summarise the plot of Hamlet in two sentences.",
    "What is the difference between a list and a tuple in Python?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model("embedded", dtype="float32")
    config = loaded.model.config
    generator = torch.Generator().manual_seed(0)
    vector = SteeringVector(
        layer_vectors={
            i: torch.randn(config.hidden_size, generator=generator)
            for i in range(config.num_hidden_layers)
        },
        model=loaded.name,
        fingerprint=ModelFingerprint.of(loaded.model),
        method="random (benchmark)",
        read_position="last",
        source="benchmark",
        num_pairs=0,
    )
    gen = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=len(PROMPTS))

    def run(steered: bool) -> tuple[float, int]:
        start = time.perf_counter()
        if steered:
            with vector.apply(loaded, alpha=0.01):
                out = generate(loaded, PROMPTS, gen, progress=False)
        else:
            out = generate(loaded, PROMPTS, gen, progress=False)
        return time.perf_counter() - start, sum(g[0].num_new_tokens for g in out)

    run(False)  # warm-up
    plain, steered = [], []
    for _ in range(args.rounds):
        plain.append(run(False))
        steered.append(run(True))
    p_time = statistics.median(t for t, _ in plain)
    s_time = statistics.median(t for t, _ in steered)
    p_tok = statistics.median(n for _, n in plain)
    s_tok = statistics.median(n for _, n in steered)
    print(
        f"prompts {len(PROMPTS)}, new tokens <= {args.new_tokens}, rounds {args.rounds}, "
        f"threads {args.threads}, {config.num_hidden_layers} layers steered"
    )
    print(f"unsteered: {p_time:.2f} s median, {p_tok} tokens ({p_tok / p_time:.1f} tok/s)")
    print(f"steered:   {s_time:.2f} s median, {s_tok} tokens ({s_tok / s_time:.1f} tok/s)")
    print(
        f"overhead (time ratio): {s_time / p_time - 1:+.1%}; per token: "
        f"{(s_time / s_tok) / (p_time / p_tok) - 1:+.1%}"
    )


if __name__ == "__main__":
    main()
