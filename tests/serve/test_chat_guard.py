"""Guarded chat end to end: a local in-process model (tiny random Llama), and the output guard
cutting real harmful answers (from the shared C2-Eval set) out of a stream and a completion."""

from __future__ import annotations

import json

import openai
import pytest

from safealign.serve import ServeConfig, create_app
from safealign.serve.backends import LocalBackend
from safealign.serve.server import BackgroundServer

BENIGN = "How do I bake sourdough bread?"


@pytest.fixture(scope="module")
def local_server(guard):
    from safealign.models import tiny_model

    backend = LocalBackend(tiny_model(seed=0), max_new_tokens=24)
    config = ServeConfig(
        served_model_name="tiny", audit_enabled=False, stream_window_tokens=4, max_new_tokens=24
    )
    server = BackgroundServer(create_app(config, guard=guard, backend=backend)).start()
    yield server, backend
    server.stop()


def test_local_model_completion_equals_generate_and_stream_joins_to_it(local_server):
    from safealign.data.schema import Message
    from safealign.models import GenerationConfig, generate

    server, backend = local_server
    api = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
    messages = [{"role": "user", "content": BENIGN}]
    answer = api.chat.completions.create(model="tiny", messages=messages, max_tokens=12)
    expected = generate(
        backend.loaded,
        [[Message("user", BENIGN)]],
        GenerationConfig(max_new_tokens=12),
        progress=False,
    )[0][0]
    assert answer.choices[0].message.content == expected.output
    assert answer.usage.completion_tokens == expected.num_new_tokens
    stream = api.chat.completions.create(
        model="tiny", messages=messages, max_tokens=12, stream=True
    )
    chunks = list(stream)
    joined = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert joined == expected.output  # greedy: the stream and the completion agree
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model="other", messages=messages)


@pytest.fixture(scope="module")
def harmful_answers(shared_data_dir, guard):
    """C2-Eval (request, harmful answer) pairs whose whole answer the guard flags."""
    path = shared_data_dir / "course_correction_c2eval" / "eval" / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()[:40]]
    pairs = [(r["prompt"], r["response_0"]) for r in rows if not r["is_response_0_safe"]]
    verdicts = guard.classify(
        [[{"role": "user", "content": p}, {"role": "assistant", "content": a}] for p, a in pairs]
    )
    flagged = [pair for pair, v in zip(pairs, verdicts, strict=True) if v.harmful]
    assert len(flagged) >= 3
    return flagged[:3]


@pytest.mark.shared_data
def test_output_guard_course_corrects_harmful_answers_in_stream_and_completion(
    serve, upstream, harmful_answers
):
    server = serve(
        upstream_url=f"{upstream.url}/v1",
        policy={
            "rules": [
                {"action": "annotate", "stage": "input"},
                {"action": "course_correct", "stage": "output"},
            ]
        },
        audit_texts=True,
    )
    api = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
    correction = ServeConfig().policy.correction_message
    for prompt, answer in harmful_answers:
        messages = [{"role": "user", "content": prompt}]
        reply = {"stand_in_reply": answer}
        stream = api.chat.completions.create(
            model="stand-in-llm", messages=messages, stream=True, extra_body=reply
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert chunks[-1].choices[0].finish_reason == "content_filter"
        assert text.endswith(correction)
        kept = text[: -len(correction)]
        assert answer.startswith(kept) and len(kept) < len(answer)  # cut, never the whole
        assert chunks[0].model_extra["safealign"]["input"]["action"] == "annotate"
        whole = api.chat.completions.create(
            model="stand-in-llm", messages=messages, extra_body=reply
        )
        assert whole.choices[0].finish_reason == "content_filter"
        assert whole.choices[0].message.content.endswith(correction.lstrip())
        assert whole.model_extra["safealign"]["output"]["action"] == "course_correct"
    audit = server.app.state.audit
    audit.flush()
    rows = list(audit.rows())
    assert len(rows) == 2 * len(harmful_answers)
    assert {r["action"] for r in rows} == {"course_correct"}
    assert all(r["prompt_text"] for r in rows)  # audit_texts on: texts are kept
