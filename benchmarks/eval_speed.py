"""XSTest generation speed on the embedded model: batched (length-sorted) vs one prompt at a time.

Run: .venv/bin/python benchmarks/eval_speed.py [--sequential-prompts 40] [--new-tokens 64]

The batched pass runs twice on the same prompts: the PyTorch path at batch 16, what every verb
used before, and the default path now (batch 64; CTranslate2 for float32 models, torch for bf16
ones), with the time ratio and how many of the 450 answers are identical (in bf16 a different
batch shape rounds differently, so some near-tied greedy choices flip; in float32 none do).
`--limit N` times fewer prompts.

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
from safealign.models.generation import choose_backend


def timed(loaded, conversations, config) -> tuple[float, int, list[str]]:
    start = time.perf_counter()
    results = generate(loaded, conversations, config, progress=False)
    seconds = time.perf_counter() - start
    tokens = sum(g.num_new_tokens for samples in results for g in samples)
    return seconds, tokens, [samples[0].output for samples in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential-prompts", type=int, default=40, help="0 skips this part")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument(
        "--previous-batch-size", type=int, default=16, help="the previous default batch"
    )
    parser.add_argument(
        "--batch-size", type=int, default=GenerationConfig.batch_size, help="the default now"
    )
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=None, help="XSTest prompts to use")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("SAFEALIGN_THREADS", "2")))

    items = task_items(EvalConfig(task="xstest", data_dir=args.data_dir))
    conversations = [item.conversation for item in items][: args.limit]
    loaded = load_model("embedded", dtype=args.dtype)
    print(
        f"model {loaded.name}, dtype {next(loaded.model.parameters()).dtype}, "
        f"threads {torch.get_num_threads()}, {len(conversations)} XSTest prompts, "
        f"{args.new_tokens} new tokens"
    )

    outputs = {}
    for label, backend, size in [
        ("previous (torch)", "torch", args.previous_batch_size),
        ("default now", "auto", args.batch_size),
    ]:
        batched = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=size, backend=backend)
        generate(loaded, conversations[:2], batched, progress=False)  # warm-up, conversion
        seconds, tokens, outputs[label] = timed(loaded, conversations, batched)
        print(
            f"batched {label} (size {size}, length-sorted, "
            f"runs on {choose_backend(loaded, batched)}): {seconds:.1f} s for "
            f"{len(conversations)} prompts, {tokens / seconds:.1f} tok/s",
            flush=True,
        )
        outputs[label + " seconds"] = seconds
    previous, now = outputs["previous (torch) seconds"], outputs["default now seconds"]
    same = sum(
        a == b for a, b in zip(outputs["previous (torch)"], outputs["default now"], strict=True)
    )
    print(
        f"default now / previous: {previous / now:.2f}x faster; identical answers "
        f"{same}/{len(conversations)}"
    )
    batched_per_prompt = now / len(conversations)

    if not args.sequential_prompts:
        return
    step = max(1, len(conversations) // args.sequential_prompts)
    subset = conversations[::step][: args.sequential_prompts]
    single = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=1, sort_by_length=False)
    seq_seconds, seq_tokens, _ = timed(loaded, subset, single)
    sequential_per_prompt = seq_seconds / len(subset)
    print(
        f"one at a time: {seq_seconds:.1f} s for {len(subset)} prompts, "
        f"{seq_tokens / seq_seconds:.1f} tok/s; extrapolated to {len(conversations)} prompts: "
        f"{sequential_per_prompt * len(conversations):.0f} s"
    )
    print(
        f"speed-up per prompt (batched default now vs one at a time): "
        f"{sequential_per_prompt / batched_per_prompt:.1f}x"
    )


if __name__ == "__main__":
    main()
