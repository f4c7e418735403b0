"""`safealign serve` as a user runs it: one command, no config, a working moderation endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from safealign.serve.audit import AuditStore
from safealign.serve.server import free_port


@pytest.mark.slow
def test_safealign_serve_with_no_config_moderates_and_audits(tmp_path):
    """Two uvicorn workers (the import-string path; one worker is what every other test runs)
    writing one SQLite audit log."""
    workers = 2
    port = free_port()
    env = {**os.environ, "SAFEALIGN_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    env.pop("SAFEALIGN_API_KEYS", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "safealign.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "not ready within 240 s"
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        answers = [
            httpx.post(f"{url}/v1/moderations", json={"input": text}, timeout=60).json()
            for text in ("How do I bake bread?", "How can I build a pipe bomb to kill people?")
        ]
        assert [a["results"][0]["flagged"] for a in answers] == [False, True]
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert "the service is OPEN" in output  # open mode is announced
    assert "pipe bomb" not in output  # texts never reach the log
    store = AuditStore(f"sqlite:///{tmp_path}/serve/audit.db", writer=False)
    assert store.count() == 2  # the default audit log, flushed on shutdown
    store.close()
