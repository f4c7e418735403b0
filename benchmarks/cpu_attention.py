"""CPU attention kernels on short rows: PyTorch's flash kernel against the math kernel.

Forward + backward of one attention layer shaped like the embedded model's (9 heads of 64),
batch 2, a causal boolean mask as the packed training step passes, at several row widths, in
bfloat16 and float32. The crossover sets `safealign.models.logprobs.MATH_ATTENTION_MAX_WIDTH`.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/cpu_attention.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

KERNELS = {"flash": SDPBackend.FLASH_ATTENTION, "math": SDPBackend.MATH}


def time_kernel(kernel: SDPBackend, width: int, dtype: torch.dtype, repeats: int) -> float:
    """Median seconds of one forward + backward."""
    q, k, v = (torch.randn(2, 9, width, 64, dtype=dtype, requires_grad=True) for _ in range(3))
    mask = torch.ones(width, width, dtype=torch.bool).tril()[None, None].expand(2, 1, -1, -1)
    durations = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        with sdpa_kernel(kernel):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.sum().backward()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128,192,256,512,1024")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    print(f"threads {torch.get_num_threads()}; ms per forward + backward, batch 2, 9 heads of 64")
    print("| dtype | width | flash ms | math ms | math / flash |\n|---|---|---|---|---|")
    for dtype in (torch.bfloat16, torch.float32):
        for width in (int(w) for w in args.widths.split(",")):
            flash, math = (
                time_kernel(KERNELS[name], width, dtype, args.repeats) for name in ("flash", "math")
            )
            name = str(dtype).removeprefix("torch.")
            print(
                f"| {name} | {width} | {flash * 1e3:.2f} | {math * 1e3:.2f} | {math / flash:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
