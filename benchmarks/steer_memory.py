"""Peak memory of Harm Direction Removal on the embedded model: streamed vs in memory.

Run: flock /tmp/safealign-heavy.lock .venv/bin/python benchmarks/steer_memory.py

Each path runs in a fresh subprocess (peak resident memory is per process): the streamed
`apply_task_vector` (one tensor of each model at a time) and the in-memory reference (base,
fine-tuned and target state dicts loaded whole). The fine-tuned checkpoint is the embedded
model plus noise, written once to a temporary folder. Peak RSS is reported against a
baseline process that only imports the same modules, and in units of the model's size.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = {
    "imports only": "",
    "streamed": (
        "from safealign.steer import TaskVector, apply_task_vector\n"
        "apply_task_vector(base, TaskVector(tuned, base=base), out, scale=3.0, top_k=0.1)\n"
    ),
    "in memory": (
        "from safetensors.torch import load_file, save_file\n"
        "from safealign.steer import apply_task_vector_in_memory\n"
        "b = load_file(str(base / 'model.safetensors'))\n"
        "t = load_file(str(tuned / 'model.safetensors'))\n"
        "target = load_file(str(base / 'model.safetensors'))\n"
        "tau = {n: t[n].float() - b[n].float() for n in b}\n"
        "del t\n"
        "res = apply_task_vector_in_memory(target, tau, scale=3.0, top_k=0.1)\n"
        "out.mkdir(exist_ok=True)\n"
        "save_file(res, str(out / 'model.safetensors'))\n"
    ),
}

PRELUDE = (
    "import resource, sys, torch\nfrom pathlib import Path\n"
    "import safealign.steer, safetensors.torch\n"
    "torch.set_num_threads(1)\n"
    "base, tuned, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])\n"
)
EPILOGUE = "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"


def main() -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from safealign.models import embedded_checkpoint

    base = embedded_checkpoint()
    size = (base / "model.safetensors").stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        tuned = Path(tmp) / "tuned"
        shutil.copytree(base, tuned)
        state = load_file(str(base / "model.safetensors"))
        generator = torch.Generator().manual_seed(0)
        noisy = {n: t + 0.01 * torch.randn(t.shape, generator=generator) for n, t in state.items()}
        save_file(noisy, str(tuned / "model.safetensors"), metadata={"format": "pt"})
        del state, noisy
        peaks = {}
        for name, body in CHILD.items():
            out = Path(tmp) / name.replace(" ", "-")
            result = subprocess.run(
                [sys.executable, "-c", PRELUDE + body + EPILOGUE, str(base), str(tuned), str(out)],
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[name] = int(result.stdout.strip().splitlines()[-1]) * 1024  # KiB -> bytes
    print(f"model: {base} ({size / 2**20:.0f} MiB of safetensors)")
    for name, peak in peaks.items():
        extra = peak - peaks["imports only"]
        print(
            f"{name:>12}: peak RSS {peak / 2**20:7.0f} MiB, above imports {extra / 2**20:7.0f} "
            f"MiB = {extra / size:.2f} x the model"
        )


if __name__ == "__main__":
    main()
