"""XSTest generation speed on the embedded model: batched (length-sorted) vs one prompt at a time.

Run: .venv/bin/python benchmarks/eval_speed.py [--sequential-prompts 40] [--new-tokens 64]

The batched pass answers all 450 XSTest prompts. One-at-a-time generation runs at ~14 tok/s on
two CPU cores (over 30 minutes for all 450), so by default it answers a fixed, evenly spread
subset and the full-set time is extrapolated per prompt; pass --sequential-prompts 450 to time
everything. Both modes use the same dtype, greedy decoding and max_new_tokens.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from safealign.evaluate import EvalConfig
from safealign.evaluate.tasks import task_items
from safealign.models import GenerationConfig, generate, load_model


def timed(loaded, conversations, config) -> tuple[float, int]:
    start = time.perf_counter()
    results = generate(loaded, conversations, config, progress=False)
    seconds = time.perf_counter() - start
    return seconds, sum(g.num_new_tokens for samples in results for g in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential-prompts", type=int, default=40)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("SAFEALIGN_THREADS", "2")))

    items = task_items(EvalConfig(task="xstest", data_dir=args.data_dir))
    conversations = [item.conversation for item in items]
    loaded = load_model("embedded", dtype=args.dtype)
    print(
        f"model {loaded.name}, dtype {next(loaded.model.parameters()).dtype}, "
        f"threads {torch.get_num_threads()}, {len(conversations)} XSTest prompts, "
        f"{args.new_tokens} new tokens"
    )

    batched = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=args.batch_size)
    seconds, tokens = timed(loaded, conversations, batched)
    batched_per_prompt = seconds / len(conversations)
    print(
        f"batched (size {args.batch_size}, length-sorted): {seconds:.1f} s for "
        f"{len(conversations)} prompts, {tokens / seconds:.1f} tok/s"
    )

    step = max(1, len(conversations) // args.sequential_prompts)
    subset = conversations[::step][: args.sequential_prompts]
    single = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=1, sort_by_length=False)
    seq_seconds, seq_tokens = timed(loaded, subset, single)
    sequential_per_prompt = seq_seconds / len(subset)
    print(
        f"one at a time: {seq_seconds:.1f} s for {len(subset)} prompts, "
        f"{seq_tokens / seq_seconds:.1f} tok/s; extrapolated to {len(conversations)} prompts: "
        f"{sequential_per_prompt * len(conversations):.0f} s"
    )
    print(
        f"speed-up per prompt (batched vs one at a time): "
        f"{sequential_per_prompt / batched_per_prompt:.1f}x"
    )


if __name__ == "__main__":
    main()
