"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from safealign.data.schema import Message
from safealign.evaluate import EvalConfig, OpenAIBackend, rescore, run_eval
from safealign.evaluate.backends import BackendError
from safealign.evaluate.tasks import SuiteSettings
from safealign.io import read_jsonl
from safealign.models import GenerationConfig


class EchoServer:
    """Answers "echo: <last user message>" n times; can fail the first requests with 503."""

    def __init__(self) -> None:
        self.app = FastAPI()
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.fail_first = 0
        self.in_flight = 0
        self.max_in_flight = 0

        @self.app.post("/v1/chat/completions")
        async def complete(request: Request):
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            if self.fail_first > 0:
                self.fail_first -= 1
                return JSONResponse({"error": "busy"}, status_code=503)
            if body["model"] == "missing":
                return JSONResponse({"error": "no such model"}, status_code=404)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(0.02)
            self.in_flight -= 1
            last = body["messages"][-1]
            text = f"echo: {last['content']}"
            if last["role"] == "assistant":  # prefill: the server continues the prefix
                text = last["content"] + " [continued]"
            choices = [
                {"index": i, "message": {"role": "assistant", "content": text}}
                for i in range(body.get("n", 1))
            ]
            return {"id": "x", "object": "chat.completion", "choices": choices}


@pytest.fixture(scope="module")
def server():
    echo = EchoServer()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(echo.app, host="127.0.0.1", port=port, log_level="warning")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not runner.started and time.time() < deadline:
        time.sleep(0.05)
    echo.url = f"http://127.0.0.1:{port}/v1"
    yield echo
    runner.should_exit = True
    thread.join(timeout=5)


def test_generations_come_back_in_order_with_n_samples(server):
    backend = OpenAIBackend(server.url, "served-model", api_key="secret", max_concurrency=3)
    conversations = [[Message("user", f"question {i}")] for i in range(9)]
    outputs = backend.generate(conversations, GenerationConfig(num_samples=2, max_new_tokens=7))
    assert outputs == [[f"echo: question {i}"] * 2 for i in range(9)]
    assert 1 <= server.max_in_flight <= 3
    body = server.requests[-1]
    assert (body["model"], body["max_tokens"], body["n"]) == ("served-model", 7, 2)
    assert server.headers[-1]["authorization"] == "Bearer secret"


def test_prefill_is_sent_as_a_final_assistant_message(server):
    backend = OpenAIBackend(server.url, "m")
    out = backend.generate(
        [[Message("user", "q")]], GenerationConfig(), assistant_prefixes=["Sure, here"]
    )
    assert out == [[" [continued]"]]  # the echoed prefix is stripped
    assert server.requests[-1]["continue_final_message"] is True


def test_retries_on_503_then_succeeds(server):
    server.fail_first = 2
    backend = OpenAIBackend(server.url, "m", retries=3, backoff_s=0.01)
    assert backend.generate([[Message("user", "hi")]], GenerationConfig()) == [["echo: hi"]]


def test_client_errors_are_not_retried_and_say_what_failed(server):
    before = len(server.requests)
    backend = OpenAIBackend(server.url, "missing", retries=3, backoff_s=0.01)
    with pytest.raises(BackendError, match='HTTP 404.*serves the model "missing"'):
        backend.generate([[Message("user", "hi")]], GenerationConfig())
    assert len(server.requests) == before + 1


def test_unreachable_server():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m", retries=1, backoff_s=0.01, timeout_s=1)
    with pytest.raises(BackendError, match="failed after 2 attempt"):
        backend.generate([[Message("user", "hi")]], GenerationConfig())


def test_eval_run_through_the_server_then_rescore_without_it(server, tmp_path):
    config = EvalConfig(
        task="suite",
        model="served-model",
        backend_url=server.url,
        judges=["refusal-keyword"],
        settings=SuiteSettings(limit=60),  # 50 harmful + 10 risky-benign
        out=str(tmp_path / "run"),
        resamples=200,
    )
    result = run_eval(config)
    rows = read_jsonl(tmp_path / "run" / "generations.jsonl")
    assert len(rows) == 60
    assert rows[0]["output"] == f"echo: {rows[0]['prompt']}"
    assert rows[0]["model"] == f"openai:{server.url}#served-model"
    assert result.metrics["summary"]["compliance"]["value"] == 1.0  # echoes never refuse
    requests = len(server.requests)
    rescored = rescore(tmp_path / "run", ["course-correction-keyword"])
    assert len(server.requests) == requests  # rescoring never generates
    judges = {s["judge"] for s in read_jsonl(tmp_path / "run" / "scores.jsonl")}
    assert judges == {"refusal-keyword", "course-correction-keyword"}
    assert rescored.metrics["summary"]["compliance"]["value"] == 1.0
