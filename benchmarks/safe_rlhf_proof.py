"""The Safe RLHF proof run's two helpers (docs/training.md, "Proof run on the embedded model").

`prep`: the files the run reads, written under runs/ (never into the repository):
- C2-Eval's PKU-format pairs split by the project's prompt-hash rule (`data.splits.split_of`):
  train + dev rows train the reward and cost models, test rows measure them. Splitting by
  prompt keeps every prompt's pairs on one side.
- refusal_direction's harmful_train instructions minus every AdvBench behaviour (117 of its
  260 rows are AdvBench verbatim, and AdvBench is an evaluation task here), and the first
  harmless_train (Alpaca) instructions as benign prompts.

`prep-cost PAIRS`: the second attempt's cost-model data. C2-Eval's responses are 92 % unsafe, so
a cost model trained on them alone puts nearly every answer above 0. This adds the embedded
model's own red-team pairs (`safealign synth redteam`, refusal-marker judge: its refusals are
safe, its compliance with a harmful training prompt unsafe; benign prompts' answers safe), split
by the same prompt-hash rule, converted to the PKU format: `cost_mix_train.jsonl` (C2-Eval train
+ red-team train/dev), `redteam_test.jsonl` and `cost_mix_test.jsonl` (both sources' test rows).

`prep-sft PAIRS`: the third attempt's SFT data (see `prep_sft`).

`ppo-summary RUN`: first vs last iterations of a safe_rlhf run (see `ppo_summary`), with the
change of the sampled answers' mean cost and its bootstrap interval.

`accuracy RUN...`: held-out pairwise accuracy of `safealign train` reward/cost runs on the
test pairs. Reward: R(better) > R(other). Cost: C(less safe) > C(safer), and sign accuracy
(C > 0 exactly when the response is labelled unsafe), as the cost loss defines them.

    python benchmarks/safe_rlhf_proof.py prep
    python benchmarks/safe_rlhf_proof.py accuracy runs/train/reward_c2eval runs/train/cost_c2eval
    python benchmarks/safe_rlhf_proof.py prep-cost runs/proof/bfpo_pairs.jsonl
    python benchmarks/safe_rlhf_proof.py accuracy runs/train/cost_mix \
        --data runs/proof/data/cost_mix_test.jsonl
    python benchmarks/safe_rlhf_proof.py prep-sft runs/proof/bfpo_pairs.jsonl
    python benchmarks/safe_rlhf_proof.py ppo-summary runs/train/safe_rlhf --window 5
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

SHARED = Path(os.environ.get("SAFEALIGN_SHARED_DATA", Path(__file__).parents[2] / "shared/data"))
OUT = Path("runs/proof/data")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    tmp.replace(path)


def prep(benign: int) -> None:
    from safealign.data.splits import split_of

    pairs = [
        json.loads(line) for line in (SHARED / "course_correction_c2eval/eval/test.jsonl").open()
    ]
    train = [r for r in pairs if split_of(r["prompt"]) != "test"]
    test = [r for r in pairs if split_of(r["prompt"]) == "test"]
    _write_jsonl(OUT / "c2eval_train.jsonl", train)
    _write_jsonl(OUT / "c2eval_test.jsonl", test)

    advbench = {
        row["goal"].strip().lower()
        for row in csv.DictReader((SHARED / "advbench/dataset/raw/advbench.csv").open())
    }
    splits = SHARED / "refusal_direction/dataset/splits"
    harmful = json.loads((splits / "harmful_train.json").read_text())
    kept = [
        {"prompt": r["instruction"]}
        for r in harmful
        if r["instruction"].strip().lower() not in advbench
    ]
    benign_rows = json.loads((splits / "harmless_train.json").read_text())[:benign]
    _write_jsonl(OUT / "harmful_train_no_advbench.jsonl", kept)
    _write_jsonl(OUT / "benign_train.jsonl", [{"prompt": r["instruction"]} for r in benign_rows])
    print(
        f"c2eval pairs: {len(train)} train+dev, {len(test)} test; harmful prompts "
        f"{len(kept)} of {len(harmful)} (AdvBench removed); benign {len(benign_rows)}"
    )


def _pku_row(row: dict) -> dict:
    """One project-format pair (`synth redteam` output) as a PKU-SafeRLHF row."""
    first, second = row["responses"]
    return {
        "prompt": row["prompt"],
        "response_0": first["text"],
        "response_1": second["text"],
        "is_response_0_safe": bool(first["is_safe"]),
        "is_response_1_safe": bool(second["is_safe"]),
        "better_response_id": row["better"],
        "safer_response_id": row["safer"],
    }


def prep_cost(pairs_path: str) -> None:
    from safealign.data.splits import split_of

    lines = Path(pairs_path).read_text().splitlines()
    own = [_pku_row(json.loads(line)) for line in lines if line.strip()]
    own_train = [r for r in own if split_of(r["prompt"]) != "test"]
    own_test = [r for r in own if split_of(r["prompt"]) == "test"]
    c2_train = [json.loads(line) for line in (OUT / "c2eval_train.jsonl").open()]
    c2_test = [json.loads(line) for line in (OUT / "c2eval_test.jsonl").open()]
    _write_jsonl(OUT / "cost_mix_train.jsonl", c2_train + own_train)
    _write_jsonl(OUT / "redteam_test.jsonl", own_test)
    _write_jsonl(OUT / "cost_mix_test.jsonl", c2_test + own_test)

    def safe(rows: list[dict]) -> int:
        return sum(r["is_response_0_safe"] + r["is_response_1_safe"] for r in rows)

    print(
        f"cost_mix train: {len(c2_train)} C2-Eval + {len(own_train)} own pairs, "
        f"{safe(c2_train) + safe(own_train)} safe of {2 * (len(c2_train) + len(own_train))} "
        f"responses; test: {len(c2_test)} C2-Eval + {len(own_test)} own pairs"
    )


def prep_sft(pairs_path: str) -> None:
    """The third attempt's SFT data: one answer per red-team pair, the safe one (the model's
    refusal, started by the synthesis prefill) for a harmful prompt and the better one for a
    benign prompt, so the SFT start refuses harmful requests without refusing everything.
    Training prompts only (the red-team pairs are built from them)."""
    rows = []
    for line in Path(pairs_path).read_text().splitlines():
        if not line.strip():
            continue
        pair = json.loads(line)
        pick = pair["safer"] if pair["prompt_harmful"] else pair["better"]
        if pick is None or not pair["responses"][pick]["is_safe"]:
            continue
        response = pair["responses"][pick]
        rows.append(
            {
                "prompt": pair["prompt"],
                "context": pair.get("context", []),
                "responses": [{"text": response["text"], "is_safe": True}],
                "prompt_harmful": pair["prompt_harmful"],
            }
        )
    _write_jsonl(OUT / "sft_train.jsonl", rows)
    harmful = sum(r["prompt_harmful"] for r in rows)
    print(f"sft_train: {len(rows)} answers, {harmful} refusals, {len(rows) - harmful} benign")


def accuracy(runs: list[str], data: str) -> None:
    import torch

    from safealign.data import load_samples
    from safealign.train.reward_model import load_scalar_model

    samples = load_samples(data, "pku-saferlhf").samples
    for run in runs:
        folder = next(
            p
            for p in (Path(run) / "reward_model", Path(run) / "cost_model", Path(run))
            if p.is_dir()
        )
        model = load_scalar_model(folder, dtype="auto")
        scores = model.score(
            [s.conversation for s in samples for _ in range(2)],
            [s.responses[i].text for s in samples for i in range(2)],
            batch_size=8,
            max_length=256,
        ).view(-1, 2)
        index = torch.arange(len(samples))
        if model.kind == "reward":
            better = torch.tensor([s.better for s in samples])
            hits = scores[index, better] > scores[index, 1 - better]
            print(
                json.dumps(
                    {
                        "run": run,
                        "kind": "reward",
                        "data": data,
                        "pairs": len(samples),
                        "accuracy": round(float(hits.float().mean()), 3),
                    }
                )
            )
            continue
        # Pairs without a safer side (two safe answers to a benign prompt) count for the
        # sign only.
        ranked = torch.tensor([s.safer is not None for s in samples])
        safer = torch.tensor([s.safer or 0 for s in samples])
        hits = (scores[index, 1 - safer] > scores[index, safer])[ranked]
        unsafe = torch.tensor([[not r.is_safe for r in s.responses] for s in samples])
        sign = (scores > 0) == unsafe
        decisive = (unsafe.sum(-1) == 1)[ranked]
        print(
            json.dumps(
                {
                    "run": run,
                    "kind": "cost",
                    "data": data,
                    "pairs": len(samples),
                    "ranked_pairs": int(ranked.sum()),
                    "accuracy": round(float(hits.float().mean()), 3),
                    "sign_accuracy": round(float(sign.float().mean()), 3),
                    "sign_accuracy_safe_responses": round(float(sign[~unsafe].float().mean()), 3),
                    "safe_responses": int((~unsafe).sum()),
                    "sign_accuracy_unsafe_responses": round(float(sign[unsafe].float().mean()), 3),
                    "unsafe_responses": int(unsafe.sum()),
                    "sign_accuracy_unranked_pairs": round(float(sign[~ranked].float().mean()), 3)
                    if (~ranked).any()
                    else None,
                    "accuracy_one_safe_pairs": round(float(hits[decisive].float().mean()), 3),
                    "one_safe_pairs": int(decisive.sum()),
                }
            )
        )


def ppo_summary(run: str, window: int) -> None:
    """First vs last `window` iterations of a safe_rlhf run: means of the logged metrics, and
    from rollouts.jsonl the keyword-refusal rate of the sampled answers to harmful prompts (a
    check of the cost model's verdict by the project's refusal rule)."""
    from safealign.data.refusal import is_refusal

    metrics = [json.loads(line) for line in (Path(run) / "metrics.jsonl").open()]
    rollouts = [json.loads(line) for line in (Path(run) / "rollouts.jsonl").open()]
    last = metrics[-1]["step"]
    spans = {"first": (1, window), "last": (last - window + 1, last)}
    keys = ("cost", "cost_harmful", "cost_benign", "unsafe_fraction", "reward", "kl", "entropy")
    out = {"iterations": last, "window": window}
    for name, (lo, hi) in spans.items():
        rows = [m for m in metrics if lo <= m["step"] <= hi]
        out[name] = {k: round(sum(m[k] for m in rows if k in m) / len(rows), 3) for k in keys}
        harmful = [r for r in rollouts if lo <= r["step"] <= hi and r["prompt_harmful"]]
        out[name]["harmful_answers"] = len(harmful)
        out[name]["harmful_refused"] = round(
            sum(is_refusal(r["response"]) for r in harmful) / max(len(harmful), 1), 3
        )
    for label, harmful_only in (("cost_change", False), ("cost_change_harmful", True)):
        first, last_costs = (
            [
                r["cost"]
                for r in rollouts
                if lo <= r["step"] <= hi and (r["prompt_harmful"] or not harmful_only)
            ]
            for lo, hi in spans.values()
        )
        out[label] = _mean_difference(first, last_costs)
    out["lambda"] = [round(m["lambda"], 3) for m in metrics]
    out["episode_cost"] = [round(m["episode_cost"], 3) for m in metrics]
    out["seconds"] = round(metrics[-1]["seconds"], 1)
    print(json.dumps(out, indent=1))


def _mean_difference(before: list[float], after: list[float], resamples: int = 2000) -> dict:
    """mean(after) - mean(before) with a 95 % percentile bootstrap interval, each window's
    sampled answers resampled on their own (seed 0)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    after_means = b[rng.integers(0, len(b), (resamples, len(b)))].mean(1)
    before_means = a[rng.integers(0, len(a), (resamples, len(a)))].mean(1)
    draws = after_means - before_means
    low, high = np.quantile(draws, [0.025, 0.975])
    return {
        "value": round(float(b.mean() - a.mean()), 3),
        "low": round(float(low), 3),
        "high": round(float(high), 3),
        "answers": [len(a), len(b)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("prep")
    p.add_argument("--benign", type=int, default=140)
    a = sub.add_parser("accuracy")
    a.add_argument("runs", nargs="+")
    a.add_argument(
        "--data",
        default=str(OUT / "c2eval_test.jsonl"),
        help="PKU-format pairs to measure on (default: C2-Eval's test prompts)",
    )
    c = sub.add_parser("prep-cost")
    c.add_argument("pairs", help="`safealign synth redteam` pairs of the model's own answers")
    f = sub.add_parser("prep-sft")
    f.add_argument("pairs", help="`safealign synth redteam` pairs of the model's own answers")
    s = sub.add_parser("ppo-summary")
    s.add_argument("run")
    s.add_argument("--window", type=int, default=5)
    args = parser.parse_args()
    if args.verb == "prep":
        prep(args.benign)
    elif args.verb == "prep-cost":
        prep_cost(args.pairs)
    elif args.verb == "prep-sft":
        prep_sft(args.pairs)
    elif args.verb == "ppo-summary":
        ppo_summary(args.run, args.window)
    else:
        accuracy(args.runs, args.data)


if __name__ == "__main__":
    main()
