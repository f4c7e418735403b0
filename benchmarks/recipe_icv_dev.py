"""Re-choose the recipe's ICV alpha on dev splits, never on the run's measuring sets.

Takes a finished `safealign run` folder (configs/run/embedded.yaml writes runs/embedded), the
vector its steer stage read (`stages/steer/icv/icv.safetensors`) and its trained runs, steers
the untouched model and each trained run at every alpha of --alphas (alpha 0 is the unsteered
model on the steered generation path: the reference), and evaluates each on the two dev sets of
benchmarks/steer_sweep.py (refusal_direction harmful_val / harmless_val and Safety-Tuned
LLaMAs' PhysicalSafety look-alikes, 32 + 32 each, the run's answer length). The rule is
steer_sweep.py's, fixed before any number here existed: among settings whose benign answers stay
fluent, the lowest mean dev compliance whose over-refusal rises at most 5 points over the
reference on both dev sets (else the largest net gain). It is applied per model; the run's one
`steer.icv.alpha` takes the trained run's choice (the variant a user would deploy).

    /work/heavy python benchmarks/recipe_icv_dev.py runs/embedded --alphas 0,0.025,0.05,0.075,0.1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the sweep's dev sets, its rule and its in-process CLI runner
from steer_sweep import add_dev_arguments, cli, dev_only_sweep, print_dev_table, slug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--alphas", default="0,0.025,0.05,0.075,0.1")
    add_dev_arguments(parser)
    args = parser.parse_args()
    run_dir = args.run_dir.resolve()
    vector = run_dir / "stages" / "steer" / "icv" / "icv.safetensors"
    if not vector.is_file():
        raise SystemExit(f"{vector} is missing: run the recipe's steer stage first")
    models = {"base": "embedded"}
    trained = run_dir / "stages" / "train" / "variants.json"
    for variant in json.loads(trained.read_text()) if trained.is_file() else []:
        models[variant["name"]] = variant["model_path"]
    sweep = dev_only_sweep(args, run_dir / "icv-dev")
    alphas = [float(a) for a in args.alphas.split(",")]
    for name, model in models.items():
        labels = []
        for alpha in alphas:
            label = f"{name} a{alpha:g}"
            folder = sweep.folder(slug(label))
            if not folder.is_dir():
                cli(
                    "steer", "apply", "--model", model, "--vector", str(vector),
                    "--alpha", str(alpha), "--output", str(folder), log=sweep.log,
                )  # fmt: skip
            sweep.dev_eval(label, str(folder))
            labels.append(label)
        sweep.results["chosen"][name] = sweep.best(labels, reference=f"{name} a0")
        sweep.save()
    print_dev_table(sweep, list(sweep.results["dev"]))


if __name__ == "__main__":
    main()
