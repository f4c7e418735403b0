"""Choose the recipe's BFPO training length on dev splits, never on the run's measuring sets.

Retrains a finished `safealign run`'s first train run (its stored TrainConfig and red-team
pairs, same seed and settings) with a checkpoint every --every steps kept, turns each checkpoint
into an adapter, and evaluates step 0 (the untouched model) and every checkpoint on the two dev
sets of benchmarks/steer_sweep.py (refusal_direction harmful_val / harmless_val and the
PhysicalSafety look-alikes, 32 + 32 each, the run's answer length). The rule is steer_sweep.py's,
fixed before any number here existed: among checkpoints whose benign answers stay fluent, the
lowest mean dev compliance whose over-refusal rises at most 5 points over the untouched model on
both dev sets (else the largest net gain). --fine-every N adds a finer grid between --fine-from
and --fine-until (a second retrain, same schedule, stopped there), for when the coarse grid jumps
from a checkpoint that keeps to the bound to one far past it. The chosen step becomes the
recipe's `max_steps`; that run's own schedule (warmup 10% of it, then cosine to 0) differs from
the 100-step run's at that checkpoint: from 12 steps on it has the smaller learning-rate sum, so
it is, if anything, less trained than the checkpoint chosen (at 10 steps the sums are about
equal: 5.0 vs 4.5 peak-rate steps, since the checkpoint was still in its 10-step warmup).

    /work/heavy python benchmarks/recipe_steps_dev.py runs/embedded --out runs/embedded-steps-dev \
        --every 10 --fine-every 2 --fine-from 10 --fine-until 20
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the sweep's dev sets, its rule and its in-process CLI runner
from steer_sweep import add_dev_arguments, dev_only_sweep, print_dev_table


class _Enough(Exception):
    """Raised from the step hook to end a refining retrain at --fine-until."""


def retrain(run_dir: Path, out: Path, every: int, until: int | None = None) -> Path:
    """The run's first train run again (its schedule unchanged), keeping a checkpoint every
    `every` steps, up to `until` (else to the end); returns the training folder."""
    from safealign.config import load_saved_config
    from safealign.data import Sample
    from safealign.io import read_jsonl
    from safealign.train import TrainConfig, train

    (variant,) = json.loads((run_dir / "stages" / "train" / "variants.json").read_text())[:1]
    stored = run_dir / "stages" / "train" / variant["name"]
    config = load_saved_config(TrainConfig, stored / "train_config.json")
    folder = out / ("train" if until is None else f"train-every{every}")
    config = dataclasses.replace(
        config,
        output_dir=str(folder),
        save_every=every,
        keep_checkpoints=config.max_steps // every + 1,
        resume=True,
    )
    cache = out / "train" / "reference_logprobs.safetensors"  # same pairs, same reference
    if until is not None and cache.is_file() and not (folder / cache.name).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(cache, folder / cache.name)
    if not (folder / "adapter").is_dir() and not (folder / f"checkpoint-{until or 0:07d}").is_dir():
        pairs = run_dir / "stages" / "redteam" / "pairs.jsonl"

        def stop(step: int, _: dict) -> None:
            if until is not None and step >= until:
                raise _Enough

        with contextlib.suppress(_Enough):
            train(config, samples=[Sample.from_dict(r) for r in read_jsonl(pairs)], on_step=stop)
    return folder


def as_adapter(checkpoint: Path, adapter: Path, target: Path) -> Path:
    """A checkpoint's LoRA weights under the final adapter's files (PEFT drops `.default`)."""
    from safetensors.torch import load_file, save_file

    if not target.is_dir():
        staged = target.with_name(target.name + ".tmp")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(adapter, staged)
        weights = load_file(str(checkpoint / "trainable.safetensors"))
        renamed = {k.replace(".default.", "."): v for k, v in weights.items()}
        save_file(renamed, str(staged / "adapter_model.safetensors"))
        staged.rename(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: RUN_DIR/steps-dev")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--fine-every", type=int, default=0, help="a finer grid: every N steps")
    parser.add_argument("--fine-from", type=int, default=0, help="...after this step")
    parser.add_argument("--fine-until", type=int, default=20, help="...up to this step")
    add_dev_arguments(parser)
    args = parser.parse_args()
    run_dir = args.run_dir.resolve()
    out = (args.out or run_dir / "steps-dev").resolve()
    folder = retrain(run_dir, out, args.every)
    sweep = dev_only_sweep(args, out)
    from safealign.train.checkpoints import list_checkpoints

    sweep.dev_eval("step 0", "embedded")
    checkpoints = {int(c.name.split("-")[-1]): c for c in list_checkpoints(folder)}
    if args.fine_every:
        fine = retrain(run_dir, out, args.fine_every, args.fine_until)
        for c in list_checkpoints(fine):
            if int(c.name.split("-")[-1]) > args.fine_from:
                checkpoints.setdefault(int(c.name.split("-")[-1]), c)
    labels = []
    for step in sorted(checkpoints):
        model = as_adapter(checkpoints[step], folder / "adapter", sweep.folder(f"step_{step}"))
        sweep.dev_eval(f"step {step}", str(model))
        labels.append(f"step {step}")
    sweep.results["chosen"]["steps"] = sweep.best(labels, reference="step 0")
    sweep.save()
    print_dev_table(sweep, ["step 0", *labels], first_column="checkpoint")


if __name__ == "__main__":
    main()
