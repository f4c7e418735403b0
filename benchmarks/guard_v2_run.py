"""Train the v2 guard (and the naive baseline) and print every target next to the previous
default's, on the same held-out splits, in one run.

    flock /tmp/safealign-heavy.lock python benchmarks/guard_v2_run.py --out runs/guard-v2
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from safealign.guard import load_guard
from safealign.guard.encoder_training import EncoderGuardTrainConfig
from safealign.guard.mixture import MixtureTrainConfig, train_guard_mixture
from safealign.guard.targets import measure_targets, render_targets, target_examples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/guard-v2")
    parser.add_argument("--per-source", type=int, default=3000)
    parser.add_argument("--eval-limit", type=int, default=600)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--all-sources", action="store_true", help="research recipe")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--split", default="test")
    parser.add_argument("--eval-only", action="store_true", help="reuse guards saved under --out")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    extra = ["gab", "olid-train", "sdcnl", "twitter-suicidal", "alpaca"]
    guards = {"previous default": load_guard("embedded")}
    runs = {"v2 full fine-tune": dict(finetune="full", learning_rate=8e-5)}
    if not args.skip_baseline:
        runs["baseline frozen MiniLM + head"] = dict(finetune="lora", lora_rank=0)
    for name, settings in runs.items():
        config = MixtureTrainConfig(
            output=str(out / name.split()[0]),
            per_source_limit=args.per_source,
            encoder=EncoderGuardTrainConfig(
                max_length=args.max_length, epochs=args.epochs, max_steps=args.max_steps, **settings
            ),
        )
        if args.all_sources:
            config.sources += extra
            config.permissive_only = False
        if args.eval_only:
            guards[name] = load_guard(config.output)
            continue
        start = time.perf_counter()
        result = train_guard_mixture(config)
        print(
            f"{name}: {len(result.losses)} steps in {time.perf_counter() - start:.0f}s, "
            f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}",
            flush=True,
        )
        guards[name] = load_guard(config.output)
    sets = target_examples(None, args.split, args.eval_limit)
    figures = [measure_targets(g, n, sets) for n, g in guards.items()]
    text = render_targets(figures, args.split)
    print(text)
    (out / "targets.md").write_text(text)
    (out / "targets.json").write_text(json.dumps([asdict(f) for f in figures], indent=1))


if __name__ == "__main__":
    main()
