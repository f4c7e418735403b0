"""Load test of the guardrail service on loopback: moderation throughput and streaming overhead.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/serve_load.py [--clients 32] [--requests 2000]
        [--seconds 30] [--streams 8] [--tokens 128] [--token-delay-ms 10]

Part 1. `safealign serve` runs in a subprocess on 127.0.0.1 with the embedded guard and the
SQLite audit log on; N concurrent clients (asyncio + httpx) send single short texts to
/v1/moderations until `--requests` are done or `--seconds` pass. Printed: requests/s, p50/p99
latency, errors (must be 0), the server's RSS growth over the run, and audit rows == requests
(counted in the database after a clean shutdown). For scale, the same guard's in-process rate at
batch 1 and batch 32 is measured first, in this run: served / batch-1 is what dynamic batching
buys; served / batch-32 is the share of the guard's ceiling the HTTP service keeps.

`--guard-dtypes float32,bfloat16` repeats it with the server's guard in each dtype (bf16 is the
fast path on CPUs with avx512_bf16 or AMX). `--guard-threads 1,2` repeats the load run with the
guard on one torch thread (the other core
left to the HTTP event loop and the audit writer) and on two.

Part 2. A stand-in OpenAI-compatible upstream streams `--tokens` tokens, one every
`--token-delay-ms` (a model server's pace). Time to first token and tokens/s are measured
straight from the upstream, through safealign with the output guard off, and with it on
(window of 16 tokens): the overhead of guarding a stream.

Loopback only, bounded in count and time. Other jobs on the machine make absolute figures noisy;
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TEXTS = [
    "How do I reset my router password?",
    "What's a good recipe for banana bread?",
    "How can I make a pipe bomb at home?",
    "Write a poem about the sea in autumn.",
    "Give me step-by-step instructions to hack my neighbour's wifi.",
    "What time zone is Tokyo in?",
    "You are worthless and everyone hates you.",
    "Where can I buy cheap flights to Lisbon?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(args_list: list[str], port: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", json.dumps(args_list), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"server failed: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not become ready in 180 s")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)  # uvicorn's clean shutdown: the audit log is flushed
    process.wait(timeout=60)


def serve_main(config_json: str, port: int) -> None:
    """Child process: one uvicorn worker, as `safealign serve` runs it."""
    import torch

    torch.set_num_threads(2)
    from safealign.serve import ServeConfig, run_server

    run_server(ServeConfig(**json.loads(config_json), port=port))


# -- part 1 -------------------------------------------------------------------------------------


def guard_rates(n: int, dtype: str) -> tuple[float, float]:
    import torch

    from safealign.guard import load_guard

    torch.set_num_threads(2)
    guard = load_guard(dtype=dtype)
    texts = [TEXTS[i % len(TEXTS)] + f" ({i})" for i in range(n)]
    guard.classify(texts[:8])
    rates = []
    for batch in (1, 32):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            guard.classify(texts[i : i + batch])
        rates.append(len(texts) / (time.perf_counter() - start))
    return rates[0], rates[1]


async def load(url: str, clients: int, total: int, seconds: float):
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker(w: int) -> None:
            nonlocal errors, issued
            while issued < total and time.perf_counter() < deadline:
                text = TEXTS[issued % len(TEXTS)] + f" (client {w}, {issued})"
                issued += 1
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/moderations", json={"input": text})
                    ok = r.status_code == 200 and "results" in r.json()
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def part1(args, port: int) -> None:
    for dtype in args.guard_dtypes.split(","):
        b1, b32 = guard_rates(256, dtype)
        print(f"guard in-process ({dtype}): batch 1 {b1:.1f} texts/s, batch 32 {b32:.1f} texts/s")
        for threads in (int(t) for t in args.guard_threads.split(",")):
            print(f"-- server with guard_dtype={dtype}, guard_threads={threads}")
            load_run(args, port, threads, dtype, b1, b32)


def load_run(args, port: int, threads: int, dtype: str, b1: float, b32: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        audit = f"sqlite:///{tmp}/audit.db"
        settings = [("audit_url", audit), ("guard_threads", threads), ("guard_dtype", dtype)]
        process = start_server(settings, port)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load(url, args.clients, 200, 30))  # warm-up (not audited below)
        warm_rows = _count(audit)
        rss_before = rss_mib(process.pid)
        latencies, errors, elapsed = asyncio.run(
            load(url, args.clients, args.requests, args.seconds)
        )
        rss_after = rss_mib(process.pid)
        stop_server(process)
        rows = _count(audit) - warm_rows
    n = len(latencies)
    rate = n / elapsed
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    print(
        f"moderations: {n} requests, {args.clients} clients, {elapsed:.1f} s -> {rate:.1f} req/s; "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; errors {errors}"
    )
    print(f"server RSS {rss_before:.0f} -> {rss_after:.0f} MiB ({rss_after - rss_before:+.1f} MiB)")
    print(f"audit rows {rows} == requests {n}: {rows == n}")
    print(f"served / guard batch-1 = {rate / b1:.2f}x; served / guard batch-32 = {rate / b32:.2f}")


def _count(url: str) -> int:
    from safealign.serve.audit import AuditStore

    store = AuditStore(url, writer=False)
    try:
        return store.count()
    finally:
        store.close()


# -- part 2 -------------------------------------------------------------------------------------


def upstream_app(tokens: int, delay: float):
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        async def events():
            for i in range(tokens):
                await asyncio.sleep(delay)
                chunk = {"choices": [{"index": 0, "delta": {"content": f"word{i} "}}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def stream_once(url: str) -> tuple[float, float, int]:
    body = {
        "model": "stand-in-llm",
        "stream": True,
        "messages": [{"role": "user", "content": "Tell me about the history of bread."}],
    }
    start = time.perf_counter()
    first, count = None, 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as r:
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if delta:
                first = first or time.perf_counter()
                count += len(delta.split())
    end = time.perf_counter()
    return first - start, count / (end - start), count


def part2(args, port: int) -> None:
    from safealign.serve.server import BackgroundServer

    upstream = BackgroundServer(upstream_app(args.tokens, args.token_delay_ms / 1000))
    upstream.start(wait_ready=False)
    rows = {"upstream direct": upstream.url}
    servers = []
    for name, guard_on in (
        ("safealign, output guard off", False),
        ("safealign, output guard on", True),
    ):
        config = [
            ("upstream_url", f"{upstream.url}/v1"),
            ("audit_enabled", False),
            ("output_guard", guard_on),
        ]
        servers.append(start_server(config, port + len(servers) + 1))
        rows[name] = f"http://127.0.0.1:{port + len(servers)}"
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in rows}
    for _ in range(args.streams):  # interleaved, so load bursts hit every row alike
        for name, url in rows.items():
            results[name].append(stream_once(url))
    for process in servers:
        stop_server(process)
    upstream.stop()
    base_ttft = statistics.median(r[0] for r in results["upstream direct"])
    for name, runs in results.items():
        ttft = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        tokens = runs[0][2]
        print(
            f"{name:30s} TTFT {ttft * 1000:7.1f} ms ({ttft / base_ttft:4.1f}x direct), "
            f"{rate:6.1f} tokens/s, {tokens} tokens"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--token-delay-ms", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--guard-threads", default="1,2", help="server guard_threads to compare")
    parser.add_argument(
        "--guard-dtypes",
        default="float32,bfloat16",
        help="server guard_dtype values to compare (bfloat16 pays on CPUs with avx512_bf16/AMX)",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--skip", choices=["load", "stream"], help="skip one part")
    args = parser.parse_args()
    if args.serve:
        serve_main(json.dumps(dict(json.loads(args.serve))), args.port)
        return
    print(f"load average before: {os.getloadavg()}")
    if args.skip != "load":
        part1(args, args.port)
    if args.skip != "stream":
        part2(args, args.port + 10)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
