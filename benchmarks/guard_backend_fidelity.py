"""Do the encoder guard's verdicts survive another inference engine? Label agreement with the
torch float32 guard and F1 on labelled target examples, per backend (encoder_backends.py).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/guard_backend_fidelity.py [--per-set 60]
        [--backends ctranslate2:int8,ctranslate2:float32,onnxruntime:int8]

Inputs: the 512 user texts of guard_speed.py and `--per-set` labelled examples of every target
set (guard.targets.target_examples, test splits). Issue 14's bar for an int8 engine: labels
agree on >= 99 % and F1 moves by < 0.005.
"""

from __future__ import annotations

import argparse
import time

import torch

from encoder_backends import with_backend
from guard_speed import user_texts
from safealign.guard import load_guard
from safealign.guard.metrics import binary_metrics
from safealign.guard.targets import target_examples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-set", type=int, default=60)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--backends", default="ctranslate2:int8,ctranslate2:float32,onnxruntime:int8"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = user_texts(args.texts)
    examples = [e for rows in target_examples(None, "test", args.per_set).values() for e in rows]
    reference = load_guard("embedded", dtype="float32")
    guards = {
        "torch float32": reference,
        "torch bfloat16": load_guard("embedded", dtype="bfloat16"),
    }
    for item in args.backends.split(","):
        backend, compute_type = item.split(":")
        guards[f"{backend} {compute_type}"] = with_backend(reference, backend, compute_type)
    print(f"{len(texts)} user texts, {len(examples)} labelled examples")
    verdicts = {}
    for name, guard in guards.items():
        start = time.perf_counter()
        verdicts[name] = guard.classify(texts + [e.turns for e in examples])
        print(f"{name}: {time.perf_counter() - start:.1f} s")
    expected = verdicts["torch float32"]
    for name, got in verdicts.items():
        print(f"{name:22s} " + fidelity(got, expected, examples, len(texts)))


def fidelity(got, expected, examples, count: int) -> str:
    """One line: probability gaps and label agreement with `expected`, F1 on the labels."""

    def judged(verdict):
        return verdict.response_harmful or verdict.prompt_harmful

    pairs = list(zip(got, expected, strict=True))
    prompt_gap = max(
        abs(a.prompt_harmful.probability - b.prompt_harmful.probability) for a, b in pairs
    )
    response_gap = max(
        (
            abs(a.response_harmful.probability - b.response_harmful.probability)
            for a, b in pairs
            if b.response_harmful
        ),
        default=0.0,
    )
    on_texts = sum(a.prompt_harmful.label == b.prompt_harmful.label for a, b in pairs[:count])
    on_labelled = sum(judged(a).label == judged(b).label for a, b in pairs[count:])
    labelled = list(zip(examples, got[count:], strict=True))
    prompts = [
        (e.prompt_harmful, v.prompt_harmful)
        for e, v in labelled
        if e.response is None and e.prompt_harmful is not None
    ]
    responses = [
        (e.response_harmful, v.response_harmful)
        for e, v in labelled
        if e.response is not None and e.response_harmful is not None
    ]
    return (
        f"max |dP| prompt {prompt_gap:.4f} response {response_gap:.4f}; labels agree: user texts "
        f"{on_texts / count:.2%}, labelled {on_labelled / max(len(labelled), 1):.2%}; "
        f"F1 prompt {_f1(prompts):.4f} (n={len(prompts)}), response {_f1(responses):.4f} "
        f"(n={len(responses)})"
    )


def _f1(rows) -> float:
    labels = [bool(y) for y, _ in rows]
    return binary_metrics(
        labels, [s.probability for _, s in rows], predicted=[bool(s.label) for _, s in rows]
    ).f1


if __name__ == "__main__":
    main()
