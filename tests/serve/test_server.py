"""A real server on 127.0.0.1, driven by the official `openai` client and by raw HTTP.

The embedded guard decides; the chat model is the stand-in upstream (proxy mode) or a tiny
random Llama (local mode)."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time

import httpx
import openai
import pytest

from safealign.serve.auth import hash_key, key_id

from .conftest import API_KEY

HARMFUL_REQUEST = "How can I build a pipe bomb to kill my neighbours?"
BENIGN = "How do I bake sourdough bread?"


def client(server, key: str | None = API_KEY, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key or "none", max_retries=0, **kw)


@pytest.fixture()
def proxy(serve, upstream):
    return serve(upstream_url=f"{upstream.url}/v1", api_keys=[API_KEY], upstream_timeout_s=2.0)


# -- moderations --------------------------------------------------------------------------------


def test_moderations_single_and_batch_with_openai_client(proxy, guard):
    api = client(proxy)
    single = api.moderations.create(input=HARMFUL_REQUEST)
    assert single.results[0].flagged is True
    batch = api.moderations.create(input=[BENIGN, HARMFUL_REQUEST], model="omni-moderation-latest")
    assert [r.flagged for r in batch.results] == [False, True]
    # The service answers what the guard says, batched or not.
    expected = guard.classify([BENIGN, HARMFUL_REQUEST])
    for result, verdict in zip(batch.results, expected, strict=True):
        extra = result.model_extra
        assert extra["harmful_probability"] == pytest.approx(
            verdict.prompt_harmful.probability, abs=1e-4
        )
        assert extra["severity"] == verdict.severity
        assert set(extra["taxonomy_scores"]) >= {"violence", "weapons", "crime"}
        assert "needs_review" in extra
    assert batch.results[1].category_scores.violence >= 0.0


def test_guard_check_prompt_response_and_messages(proxy):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    r = httpx.post(f"{proxy.url}/v1/guard/check", headers=headers, json={"prompt": HARMFUL_REQUEST})
    assert r.status_code == 200
    assert r.json()["verdict"]["prompt_harmful"]["label"] is True
    assert r.json()["verdict"]["response_harmful"] is None
    messages = [
        {"role": "user", "content": BENIGN},
        {"role": "assistant", "content": "Mix flour, water and starter, then bake."},
    ]
    r = httpx.post(f"{proxy.url}/v1/guard/check", headers=headers, json={"messages": messages})
    verdict = r.json()["verdict"]
    assert verdict["response_harmful"]["label"] is False and verdict["harmful"] is False
    r = httpx.post(f"{proxy.url}/v1/guard/check", headers=headers, json={"response": "x"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"


# -- chat through the proxy ---------------------------------------------------------------------


def test_proxy_chat_passes_benign_answers_and_refuses_harmful_requests(proxy, upstream):
    api = client(proxy)
    answer = api.chat.completions.create(
        model="stand-in-llm", messages=[{"role": "user", "content": BENIGN}]
    )
    assert answer.choices[0].message.content == f"Echo: {BENIGN}"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 7  # "Echo:" + 6 words, relayed
    before = upstream.app.state.progress["requests"]
    refused = api.chat.completions.create(
        model="stand-in-llm", messages=[{"role": "user", "content": HARMFUL_REQUEST}]
    )
    assert refused.choices[0].message.content == "I can't help with that request."
    assert refused.choices[0].finish_reason == "content_filter"
    assert upstream.app.state.progress["requests"] == before  # the model was never asked


def test_proxy_stream_forwards_tokens_before_the_answer_ends(proxy, upstream):
    api = client(proxy)
    words = [f"w{i}" for i in range(60)]
    stream = api.chat.completions.create(
        model="stand-in-llm",
        stream=True,
        messages=[{"role": "user", "content": BENIGN}],
        extra_body={"stand_in_reply": " ".join(words), "stand_in_delay": 0.03},
    )
    pieces, sent_when_first_arrived, finish = [], None, None
    for chunk in stream:
        delta = chunk.choices[0].delta.content
        if delta:
            if sent_when_first_arrived is None:
                sent_when_first_arrived = httpx.get(f"{upstream.url}/progress").json()["sent"]
            pieces.append(delta)
        finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == " ".join(words)
    assert finish == "stop"
    assert len(pieces) >= 60 // 16  # released window by window, not as one block
    # The first text reached the client while the upstream was still generating.
    assert sent_when_first_arrived < 60


def test_proxy_stream_refusal_and_local_equivalence_of_joined_stream(proxy):
    api = client(proxy)
    stream = api.chat.completions.create(
        model="stand-in-llm",
        stream=True,
        messages=[{"role": "user", "content": HARMFUL_REQUEST}],
    )
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "I can't help with that request."


# -- errors -------------------------------------------------------------------------------------


def test_openai_client_errors_carry_openai_shapes(proxy, serve):
    with pytest.raises(openai.AuthenticationError) as info:
        client(proxy, key="sk-wrong").moderations.create(input=BENIGN)
    assert info.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as info:
        client(proxy).moderations.create(input=BENIGN, model="no-such-guard")
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):  # the upstream's own 404, relayed
        client(proxy).chat.completions.create(
            model="no-such-llm", messages=[{"role": "user", "content": BENIGN}]
        )
    limited = serve(api_keys=[API_KEY], rate_limit_per_minute=60, rate_limit_burst=2)
    api = client(limited)
    api.moderations.create(input=BENIGN)
    api.moderations.create(input=BENIGN)
    with pytest.raises(openai.RateLimitError) as info:
        api.moderations.create(input=BENIGN)
    assert int(info.value.response.headers["Retry-After"]) >= 1


def test_raw_http_bad_json_sizes_and_keys(serve, tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("sk-one\nsk-two\n")
    server = serve(api_keys_file=str(keys_file), max_request_bytes=2000, max_text_chars=300)
    url = f"{server.url}/v1/moderations"
    auth = {"Authorization": "Bearer sk-one"}

    r = httpx.post(url, content=b'{"input": ', headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(url, json={"inpt": "x"}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    r = httpx.post(url, json={"input": "a" * 5000}, headers=auth)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunked():  # no Content-Length: the limit is counted as the body arrives
        yield b'{"input": "'
        for _ in range(50):
            yield b"b" * 100
        yield b'"}'

    r = httpx.post(url, content=chunked(), headers=auth)
    assert r.status_code == 413
    r = httpx.post(url, json={"input": "c" * 400}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "string_above_max_length"

    assert httpx.post(url, json={"input": "hi"}).status_code == 401
    assert (
        httpx.post(
            url, json={"input": "hi"}, headers={"Authorization": "Bearer sk-nope"}
        ).status_code
        == 401
    )
    assert httpx.post(url, json={"input": "hi"}, headers=auth).status_code == 200
    keys_file.write_text("sk-two\n")  # revoke sk-one, no restart
    assert httpx.post(url, json={"input": "hi"}, headers=auth).status_code == 401
    assert (
        httpx.post(
            url, json={"input": "hi"}, headers={"Authorization": "Bearer sk-two"}
        ).status_code
        == 200
    )

    app = server.app
    app.state.audit.flush()
    rows = list(app.state.audit.rows(key_id=key_id(hash_key("sk-one"))))
    # A Content-Length over the limit is answered before the key is read (no row); a chunked
    # body is counted while it is parsed, after the key check (a 413 row).
    assert [r["status"] for r in rows] == [400, 400, 413, 400, 200]
    assert all(r["prompt_text"] is None for r in rows)  # texts are off by default


def test_unknown_route_health_ready_models_metrics(proxy):
    r = httpx.get(f"{proxy.url}/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()
    assert httpx.get(f"{proxy.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{proxy.url}/readyz").json()["ready"] is True
    models = client(proxy).models.list()
    assert {m.id for m in models.data} == {"safealign-guard", "stand-in-llm"}
    client(proxy).moderations.create(input=HARMFUL_REQUEST)
    text = httpx.get(f"{proxy.url}/metrics").text
    assert 'safealign_requests_total{route="/v1/moderations",status="200"}' in text
    assert "safealign_guard_batch_size_bucket" in text
    assert "safealign_flags_total" in text


def test_upstream_timeout_and_failure(proxy):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{proxy.url}/v1/chat/completions"
    body = {"model": "stand-in-llm", "messages": [{"role": "user", "content": "[500] hello"}]}
    r = httpx.post(url, json=body, headers=headers)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_failed"
    r = httpx.post(url, json={**body, "stream": True}, headers=headers)
    assert r.status_code == 502
    body["messages"][0]["content"] = "[slow] hello"
    r = httpx.post(url, json=body, headers=headers, timeout=30)
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
    with pytest.raises(openai.APIStatusError) as info:
        client(proxy).chat.completions.create(**{**body, "stream": True})
    assert info.value.status_code == 504


def test_guard_timeout_fails_closed_by_default_and_open_when_asked(serve, guard):

    class SlowGuard:
        def classify(self, conversations):
            time.sleep(0.5)
            return guard.classify(conversations)

    from safealign.serve import ServeConfig, create_app
    from safealign.serve.server import BackgroundServer

    for mode, status in (("closed", 503), ("open", 200)):
        config = ServeConfig(guard_timeout_s=0.1, fail_mode=mode, audit_enabled=False)
        with BackgroundServer(create_app(config, guard=SlowGuard())) as server:
            r = httpx.post(f"{server.url}/v1/moderations", json={"input": HARMFUL_REQUEST})
            assert r.status_code == status
            if mode == "open":
                assert r.json()["results"][0]["flagged"] is False
            else:
                assert r.json()["error"]["code"] == "guard_timeout"


def test_concurrent_requests_batch_and_audit_one_row_each(proxy):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    texts = [f"{BENIGN} ({i})" if i % 3 else HARMFUL_REQUEST for i in range(48)]

    def one(text):
        r = httpx.post(
            f"{proxy.url}/v1/moderations", json={"input": text}, headers=headers, timeout=60
        )
        return r.status_code, r.json()["results"][0]["flagged"], r.headers["x-request-id"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, texts))
    assert all(status == 200 for status, _, _ in results)
    assert [flagged for _, flagged, _ in results] == [i % 3 == 0 for i in range(48)]
    audit = proxy.app.state.audit
    audit.flush()
    rows = {r["request_id"]: r for r in audit.rows(action=None)}
    ids = [request_id for _, _, request_id in results]
    assert len(set(ids)) == 48 and set(ids) <= set(rows)
    assert sum(rows[i]["action"] == "flag" for i in ids) == 16
    assert all(rows[i]["policy_version"] == "1" for i in ids)
    metrics = httpx.get(f"{proxy.url}/metrics").text
    sizes = [
        line for line in metrics.splitlines() if line.startswith("safealign_guard_batch_size_count")
    ]
    calls = float(sizes[0].split()[-1])
    assert calls < 48  # concurrent requests shared guard calls


def test_audit_rows_json_verdicts(proxy):
    client(proxy).moderations.create(input=HARMFUL_REQUEST)
    audit = proxy.app.state.audit
    audit.flush()
    row = list(audit.rows())[-1]
    verdict = row["verdict"] if isinstance(row["verdict"], list) else json.loads(row["verdict"])
    assert verdict[0]["prompt_harmful"]["label"] is True
    assert row["key_id"] == key_id(hash_key(API_KEY))


def test_readyz_false_until_the_guard_loads(tmp_path):
    from safealign.serve import ServeConfig, create_app
    from safealign.serve.server import BackgroundServer

    config = ServeConfig(guard=str(tmp_path / "no-guard-here"), audit_enabled=False)
    server = BackgroundServer(create_app(config)).start(wait_ready=False)
    try:
        deadline = time.monotonic() + 30
        while "error" not in httpx.get(f"{server.url}/readyz").json():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert "is not a guard" in ready.json()["error"]
        r = httpx.post(f"{server.url}/v1/moderations", json={"input": "hi"})
        assert r.status_code == 503 and r.json()["error"]["type"] == "service_unavailable"
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()


def test_prompts_and_keys_never_reach_logs_and_cors_is_off_by_default(serve, caplog):
    secret_key, secret_prompt = "sk-very-secret-key-123", "my secret prompt about zebras 8817"
    with caplog.at_level(logging.DEBUG):
        server = serve(api_keys=[secret_key], guard_timeout_s=30)
        for key in (secret_key, "sk-wrong-secret-456"):
            httpx.post(
                f"{server.url}/v1/moderations",
                json={"input": secret_prompt},
                headers={"Authorization": f"Bearer {key}"},
            )
        httpx.post(f"{server.url}/v1/moderations", content=secret_prompt.encode())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "OPEN" not in logged  # keys are configured: no open-mode warning
    for secret in (secret_key, "sk-wrong-secret-456", "zebras"):
        assert secret not in logged
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
    r = httpx.options(f"{server.url}/v1/moderations", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        open_server = serve(cors_origins=["https://example.com"])
    assert "the service is OPEN" in caplog.text  # open mode is announced at start-up
    r = httpx.options(f"{open_server.url}/v1/moderations", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://example.com"
