"""Seconds per optimizer step: safealign's trainer vs TRL's DPOTrainer, same everything, one run.

Same embedded model, same pairs (C2-Eval prompts with responses cut to a few words, so prompt +
response is about 60 tokens), batch 2, no accumulation, LoRA r=16 on the same projections,
same learning rate. Warm-up steps are dropped; the median of the timed steps is reported.

Rows, all in one process on the same pairs:
- safealign's previous path (padded rows, reference recomputed every step) and the same with
  the reference cached (the previous opt-in);
- safealign's packed rows (prompt once per pair, logits only at response positions) with the
  cached reference, as the previous session shipped them;
- safealign's default now: the same plus the fused LoRA linear (`train.fused_lora`) and, in
  bfloat16, the math attention kernel for short rows (`models.logprobs.short_row_attention`);
- TRL's DPOTrainer with its defaults, and TRL's fastest like-for-like setting: no gradient
  checkpointing and `precompute_ref_log_probs=True` (the cached reference, as ours).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/train_step.py --steps 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
SHARED = Path(os.environ.get("SAFEALIGN_SHARED_DATA", Path(__file__).parents[2] / "shared/data"))
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def benchmark_rows(n: int, words: int) -> list[dict]:
    """Prompt + chosen (safer) / rejected responses cut to `words` words each."""
    rows = []
    path = SHARED / "course_correction_c2eval/eval/test.jsonl"
    with path.open() as handle:
        for line in handle:
            row = json.loads(line)
            safer = row["safer_response_id"]
            cut = lambda text: " ".join(text.split()[:words])  # noqa: E731
            rows.append(
                {
                    "prompt": " ".join(row["prompt"].split()[:20]),
                    "chosen": cut(row[f"response_{safer}"]),
                    "rejected": cut(row[f"response_{1 - safer}"]),
                }
            )
            if len(rows) == n:
                break
    return rows


def time_ours(
    rows: list[dict],
    steps: int,
    warmup: int,
    dtype: str,
    precompute: bool,
    packed: bool,
    fused: bool,
) -> dict:
    from safealign.data.schema import Response, Sample
    from safealign.models import load_model, logprobs
    from safealign.train.config import TrainConfig
    from safealign.train.trainer import train

    samples = [
        Sample(r["prompt"], responses=[Response(r["chosen"]), Response(r["rejected"])], safer=0)
        for r in rows
    ]
    loaded = load_model("embedded", dtype=dtype)
    marks: list[float] = []
    config = TrainConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-ours-"),
        max_steps=steps + warmup,
        batch_size=2,
        gradient_accumulation_steps=1,
        learning_rate=5e-5,
        lora_r=16,
        lora_alpha=32,
        max_length=128,
        max_prompt_length=96,
        dtype=dtype,
        save_every=None,
        precompute_reference=precompute,
        packed=packed,
        fused_lora=fused,
        progress=False,
    )
    # The earlier paths ran every row on PyTorch's default attention kernel.
    default_width = logprobs.MATH_ATTENTION_MAX_WIDTH
    logprobs.MATH_ATTENTION_MAX_WIDTH = default_width if fused else 0
    started = time.perf_counter()
    result = train(
        config,
        loaded=loaded,
        samples=samples,
        on_step=lambda s, r: marks.append(time.perf_counter()),
    )
    logprobs.MATH_ATTENTION_MAX_WIDTH = default_width
    tokens = [len(p.chosen.input_ids) for p in _pairs(config, loaded, samples)]
    return {
        "per_step": _median_step([started, *marks], warmup),
        "mean_tokens": statistics.mean(tokens),
        "final_loss": result.metrics[-1]["loss"],
    }


def time_trl(
    rows: list[dict],
    steps: int,
    warmup: int,
    dtype: str,
    checkpointing: bool | None = None,
    precompute: bool = False,
) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from safealign.models import load_model

    loaded = load_model("embedded", dtype=dtype)
    data = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "assistant", "content": r["rejected"]}],
            }
            for r in rows
        ]
    )
    marks: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

    args = DPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        max_steps=steps + warmup,
        learning_rate=5e-5,
        max_length=128,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_steps=1000,
        bf16=dtype == "bfloat16",
        precompute_ref_log_probs=precompute,
        **({} if checkpointing is None else {"gradient_checkpointing": checkpointing}),
        disable_tqdm=True,
    )
    loaded.tokenizer.padding_side = "right"
    trainer = DPOTrainer(
        model=loaded.model,
        args=args,
        train_dataset=data,
        processing_class=loaded.tokenizer,
        peft_config=LoraConfig(
            r=16, lora_alpha=32, target_modules=LORA_TARGETS, task_type="CAUSAL_LM"
        ),
        callbacks=[StepTimer()],
    )
    started = time.perf_counter()
    trainer.train()
    return {
        "per_step": _median_step([started, *marks], warmup),
        "gradient_checkpointing": args.gradient_checkpointing,
        "precompute_ref_log_probs": args.precompute_ref_log_probs,
    }


def _pairs(config, loaded, samples):
    from safealign.train.trainer import build_pair_set

    return build_pair_set(config, loaded, samples).pairs


def _median_step(marks: list[float], warmup: int) -> float:
    durations = [b - a for a, b in itertools.pairwise(marks)]
    return statistics.median(durations[warmup:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--words", type=int, default=12, help="words kept per response")
    parser.add_argument("--dtype", default="float32", help="float32 or bfloat16, for every row")
    parser.add_argument(
        "--skip-trl-defaults", action="store_true", help="time TRL only in its fastest setting"
    )
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    rows = benchmark_rows(2 * (args.steps + args.warmup), args.words)
    print(f"dtype {args.dtype}, threads {torch.get_num_threads()}, batch 2 pairs", flush=True)
    ours = {}
    for label, precompute, packed, fused in [
        ("safealign previous (padded, reference every step)", False, False, False),
        ("safealign packed + cached reference (last session)", True, True, False),
        ("safealign now (+ fused LoRA, short-row attention)", True, True, True),
    ]:
        ours[label] = time_ours(
            rows, args.steps, args.warmup, args.dtype, precompute, packed, fused
        )
        print(
            f"{label}: {ours[label]['per_step']:.3f} s/step "
            f"(mean tokens/sequence {ours[label]['mean_tokens']:.0f}, "
            f"final loss {ours[label]['final_loss']:.4f})",
            flush=True,
        )
    trl_fast = time_trl(
        rows, args.steps, args.warmup, args.dtype, checkpointing=False, precompute=True
    )
    print(f"TRL DPOTrainer, no checkpointing, precomputed reference: {trl_fast}", flush=True)
    trl_rows = {"TRL fastest like-for-like": trl_fast["per_step"]}
    if not args.skip_trl_defaults:
        trl_default = time_trl(rows, args.steps, args.warmup, args.dtype)
        print(f"TRL DPOTrainer, its defaults: {trl_default}", flush=True)
        trl_rows["TRL defaults"] = trl_default["per_step"]
    previous = ours["safealign previous (padded, reference every step)"]["per_step"]
    last = ours["safealign packed + cached reference (last session)"]["per_step"]
    now = ours["safealign now (+ fused LoRA, short-row attention)"]["per_step"]
    print(f"\nsafealign now / previous: {now / previous:.2f} ({previous / now:.2f}x faster)")
    print(f"safealign now / last session's packed step: {now / last:.2f}")
    for label, seconds in trl_rows.items():
        print(f"{label}: {seconds:.3f} s/step; safealign now / this = {now / seconds:.2f}")


if __name__ == "__main__":
    main()
