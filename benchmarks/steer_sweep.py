"""Safety Arithmetic on the embedded model: harm vector, ICV, a dev sweep, test evaluations.

Every step is the public CLI (`safealign steer ...`, `safealign eval run ...`), so the figures
come from the path users run. Settings are chosen on a dev split of refusal_direction
(harmful_val / harmless_val) by a rule fixed in advance (lowest harmful compliance with dev
over-refusal at most 5 points above the unsteered model); AdvBench and XSTest are only used
for the final report. Finished steps are skipped on re-run (delete their folder to redo one).

    flock /tmp/safealign-heavy.lock python benchmarks/steer_sweep.py --out runs/steer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PYTHON = sys.executable
DEV_FILES = (
    "refusal_direction/dataset/splits/harmful_val.json",
    "refusal_direction/dataset/splits/harmless_val.json",
)


def cli(*args: str, log: Path) -> None:
    command = [PYTHON, "-m", "safealign.cli", *args]
    started = time.time()
    with open(log, "a") as handle:
        handle.write(f"$ safealign {' '.join(args)}\n")
        handle.flush()
        code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT)
        handle.write(f"[exit {code}, {time.time() - started:.0f} s]\n")
    if code != 0:
        raise SystemExit(f"failed ({code}): safealign {' '.join(args)}; see {log}")


def dev_file(out: Path, data_dir: Path, per_side: int) -> Path:
    from safealign.data import Sample, save_samples

    path = out / "dev" / f"dev_{per_side}.jsonl"
    if not path.is_file():
        harmful = json.loads((data_dir / DEV_FILES[0]).read_text())[:per_side]
        harmless = json.loads((data_dir / DEV_FILES[1]).read_text())[:per_side]
        samples = [Sample(prompt=r["instruction"], prompt_harmful=True) for r in harmful]
        samples += [Sample(prompt=r["instruction"], prompt_harmful=False) for r in harmless]
        save_samples(samples, path)
    return path


def evaluate(model: str, name: str, out: Path, log: Path, eval_args: list[str]) -> dict:
    run = out / "eval" / name
    if not (run / "metrics.json").is_file():
        cli("eval", "run", "--model", model, "--out", str(run), *eval_args, log=log)
    summary = json.loads((run / "metrics.json").read_text())["summary"]
    result = {k: (summary[k] or {}).get("value") for k in ("compliance", "over_refusal")}
    with open(out / "progress.jsonl", "a") as handle:  # partial results survive an interruption
        handle.write(json.dumps({"run": name, "model": model, **result}) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/steer")
    parser.add_argument(
        "--data-dir", default=os.environ.get("SAFEALIGN_SHARED_DATA", "../shared/data")
    )
    parser.add_argument("--alphas", default="0.1,0.15,0.2,0.25")
    parser.add_argument("--lambdas", default="1,3")
    parser.add_argument("--dev-per-side", type=int, default=16)
    parser.add_argument("--max-new-tokens", default="32")
    parser.add_argument("--advbench-limit", default="50")
    parser.add_argument("--benign-limit", default="14")
    parser.add_argument("--xstest-limit", default="96")
    parser.add_argument("--skip-test", action="store_true")
    parser.add_argument("--harm-steps", default=None, help="Override the harm fine-tune's steps.")
    args = parser.parse_args()
    out, data_dir = Path(args.out), Path(args.data_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "sweep.log"
    common = [
        "--judge",
        "refusal-keyword",
        "--judge",
        "refusal-model",
        "--batch-size",
        "32",
        "--max-new-tokens",
        args.max_new_tokens,
        "--resamples",
        "1000",
        "--data-dir",
        str(data_dir),
    ]

    results: dict[str, dict] = {"dev": {}, "test": {}, "chosen": {}}
    dev_set = str(dev_file(out, data_dir, args.dev_per_side))
    dev = ["--task", "dataset", "--dataset", dev_set, *common]
    tasks = {
        "advbench": [
            "--task",
            "advbench",
            "--limit",
            args.advbench_limit,
            "--benign-limit",
            args.benign_limit,
            *common,
        ],
        "xstest": ["--task", "xstest", "--limit", args.xstest_limit, *common],
    }

    def save() -> None:
        (out / "results.json").write_text(json.dumps(results, indent=2))
        plot(results, out / "tradeoff.png")

    def test(label: str, model: str) -> None:
        if args.skip_test:
            return
        entry = results["test"].setdefault(label, {})
        for task, task_args in tasks.items():
            slug = f"{task}-{label}".replace(" ", "-").replace("=", "")
            got = evaluate(model, slug, out, log, task_args)
            entry[f"{task}_compliance"] = got["compliance"]
            entry[f"{task}_over_refusal"] = got["over_refusal"]
            save()

    def best(prefix: str) -> str:
        """Lowest dev compliance with dev over-refusal at most 5 points above the base; when no
        setting keeps to that, the largest net gain (compliance drop minus over-refusal rise).
        (The first version fell back to the lowest compliance, which picked a setting that
        refused 81% of harmless dev prompts: a degenerate model is not a safe one.)"""
        base = results["dev"]["base"]
        pool = {k: v for k, v in results["dev"].items() if k.startswith(prefix)}
        allowed = {
            k: v for k, v in pool.items() if v["over_refusal"] <= base["over_refusal"] + 0.05
        }
        if allowed:
            return min(
                allowed, key=lambda k: (allowed[k]["compliance"], allowed[k]["over_refusal"])
            )
        gain = {
            k: (base["compliance"] - v["compliance"]) - (v["over_refusal"] - base["over_refusal"])
            for k, v in pool.items()
        }
        return max(gain, key=gain.get)

    # 1. the unsteered model, and the ICV (cheap: no training), chosen on dev, then tested
    results["dev"]["base"] = evaluate("embedded", "dev-base", out, log, dev)
    icv = out / "icv.safetensors"
    if not icv.is_file():
        cli("steer", "icv", "--config", "configs/steer/icv.yaml", "--output", str(icv), log=log)
    for alpha in args.alphas.split(","):
        folder = out / "models" / f"icv-{alpha}"
        if not folder.is_dir():
            cli(
                "steer",
                "apply",
                "--config",
                "configs/steer/apply.yaml",
                "--vector",
                str(icv),
                "--alpha",
                alpha,
                "--output",
                str(folder),
                log=log,
            )
        results["dev"][f"icv alpha={alpha}"] = evaluate(
            str(folder), f"dev-icv-{alpha}", out, log, dev
        )
        save()
    alpha = best("icv").split("=")[1]
    results["chosen"]["icv_alpha"] = alpha
    test("base", "embedded")
    test(f"icv alpha={alpha}", str(out / "models" / f"icv-{alpha}"))

    # 2. HDR: harm fine-tune, lambda chosen on dev, then HDR + ICV together
    if not (out / "harm-vector" / "train" / "adapter").is_dir():
        cli(
            "steer",
            "harm-vector",
            "--config",
            "configs/steer/harm_vector.yaml",
            "--output-dir",
            str(out / "harm-vector"),
            *(["--max-steps", args.harm_steps] if args.harm_steps else []),
            log=log,
        )
    for lam in args.lambdas.split(","):
        folder = out / "models" / f"hdr-{lam}"
        if not folder.is_dir():
            cli(
                "steer",
                "safety-arithmetic",
                "--config",
                "configs/steer/safety_arithmetic.yaml",
                "--harm-vector",
                str(out / "harm-vector"),
                "--scale",
                lam,
                "--output",
                str(folder),
                log=log,
            )
        results["dev"][f"hdr lambda={lam}"] = evaluate(str(folder), f"dev-hdr-{lam}", out, log, dev)
        save()
    lam = best("hdr").split("=")[1]
    results["chosen"]["hdr_lambda"] = lam
    both = out / "models" / f"both-{lam}-{alpha}"
    if not both.is_dir():
        cli(
            "steer",
            "safety-arithmetic",
            "--config",
            "configs/steer/safety_arithmetic.yaml",
            "--harm-vector",
            str(out / "harm-vector"),
            "--scale",
            lam,
            "--icv",
            str(icv),
            "--icv-alpha",
            alpha,
            "--output",
            str(both),
            log=log,
        )
    results["dev"][f"both lambda={lam} alpha={alpha}"] = evaluate(
        str(both), f"dev-both-{lam}-{alpha}", out, log, dev
    )
    save()
    test(f"both lambda={lam} alpha={alpha}", str(both))
    test(f"hdr lambda={lam}", str(out / "models" / f"hdr-{lam}"))

    # 3. edited-model scenario: a benign knowledge edit, its safety erosion, HDR in the edit area
    edited = out / "knowledge-edit" / "model"
    if not edited.is_dir():
        cli(
            "steer",
            "knowledge-edit",
            "--config",
            "configs/steer/knowledge_edit.yaml",
            "--output-dir",
            str(out / "knowledge-edit"),
            log=log,
        )
    repaired = out / "models" / f"edited-repaired-{lam}"
    if not repaired.is_dir():
        cli(
            "steer",
            "safety-arithmetic",
            "--config",
            "configs/steer/edited_repair.yaml",
            "--target",
            str(edited),
            "--harm-vector",
            str(out / "harm-vector"),
            "--scale",
            lam,
            "--output",
            str(repaired),
            log=log,
        )
    results["edit"] = {
        "edited": evaluate(str(edited), "dev-edited", out, log, dev),
        f"edited + HDR in edit area, lambda={lam}": evaluate(
            str(repaired), f"dev-edited-repaired-{lam}", out, log, dev
        ),
    }
    save()
    print(json.dumps(results, indent=2))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, point in results["dev"].items():
        ax.scatter(point["over_refusal"], point["compliance"], s=40)
        ax.annotate(
            label,
            (point["over_refusal"], point["compliance"]),
            fontsize=7,
            xytext=(4, 2),
            textcoords="offset points",
        )
    ax.set_xlabel("over-refusal on harmless dev prompts (lower is better)")
    ax.set_ylabel("compliance on harmful dev prompts (lower is safer)")
    ax.set_title("Safety Arithmetic on the embedded model (dev split)")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
