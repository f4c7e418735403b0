"""The model behind /v1/chat/completions: an upstream OpenAI-compatible server (proxy mode, the
real deployment) or a model loaded in this process (local mode).

Both give the same two calls: `complete` (the whole answer) and `stream` (text deltas as they
are produced, then one `StreamEnd`). Upstream failures become OpenAI-shaped errors: 504 when it
times out, 502 when it fails, its own status and message for its 4xx answers.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from safealign.data.schema import Message
from safealign.serve.errors import APIError
from safealign.serve.protocol import ChatCompletionRequest

UPSTREAM_ERROR = "upstream_error"


@dataclass
class ChatResult:
    text: str
    finish_reason: str
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class StreamEnd:
    finish_reason: str
    usage: dict[str, int] = field(default_factory=dict)


class ChatBackend(Protocol):
    name: str

    async def complete(self, request: ChatCompletionRequest) -> ChatResult: ...

    def stream(self, request: ChatCompletionRequest) -> AsyncIterator[str | StreamEnd]: ...

    async def close(self) -> None: ...


def as_messages(request: ChatCompletionRequest) -> list[Message]:
    """OpenAI messages as safealign Messages: developer turns are system turns; tool results
    are shown to the model and the guard as user-side context."""
    out = []
    for m in request.messages:
        role = {"developer": "system"}.get(m.role, m.role)
        text = m.text()
        if role not in ("system", "user", "assistant"):
            role, text = "user", f"{m.role}: {text}"
        out.append(Message(role, text))
    return out


# -- proxy mode -------------------------------------------------------------------------------


class UpstreamBackend:
    """Forwards requests (all their fields) to an OpenAI-compatible server."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float) -> None:
        self.name = base_url
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def models(self) -> list[str]:
        try:
            response = await self.client.get("/models")
            response.raise_for_status()
            return [m["id"] for m in response.json().get("data", [])]
        except (httpx.HTTPError, ValueError, KeyError):
            return []

    async def complete(self, request: ChatCompletionRequest) -> ChatResult:
        body = request.model_dump(exclude_none=True)
        body["stream"] = False
        try:
            response = await self.client.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise self._timeout() from exc
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        if response.status_code >= 400:
            raise _relay_error(response.status_code, response.content)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            return ChatResult(text, choice.get("finish_reason") or "stop", data.get("usage") or {})
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise APIError(
                502,
                "the upstream answered with no chat completion in its body",
                type=UPSTREAM_ERROR,
            ) from exc

    async def stream(self, request: ChatCompletionRequest) -> AsyncIterator[str | StreamEnd]:
        body = request.model_dump(exclude_none=True)
        body["stream"] = True
        finish, usage = "stop", {}
        try:
            async with self.client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    raise _relay_error(response.status_code, await response.aread())
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    try:
                        chunk = json.loads(payload)
                    except ValueError:
                        continue
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield text
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
        except httpx.TimeoutException as exc:
            raise self._timeout() from exc
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        yield StreamEnd(finish, usage)

    def _timeout(self) -> APIError:
        return APIError(
            504,
            f"the upstream model server did not answer within {self.timeout_s:g} s",
            type=UPSTREAM_ERROR,
            code="upstream_timeout",
        )


def _unreachable(exc: Exception) -> APIError:
    return APIError(
        502,
        f"the upstream model server could not be reached ({type(exc).__name__})",
        type=UPSTREAM_ERROR,
        code="upstream_unreachable",
    )


def _relay_error(status: int, content: bytes) -> APIError:
    """The upstream's own message for its 4xx (unknown model, bad request); 502 for its 5xx."""
    message = ""
    try:
        error = json.loads(content).get("error")
        message = error.get("message", "") if isinstance(error, dict) else str(error or "")
    except (ValueError, AttributeError):
        pass
    if 400 <= status < 500:
        return APIError(status, message or f"the upstream refused the request ({status})")
    return APIError(
        502,
        f"the upstream model server failed with HTTP {status}",
        type=UPSTREAM_ERROR,
        code="upstream_failed",
    )


# -- local mode -------------------------------------------------------------------------------


class LocalBackend:
    """A model in this process (anything `load_model` loads). One generation runs at a time:
    on a CPU two would only share the same cores."""

    def __init__(self, loaded: Any, max_new_tokens: int = 256) -> None:
        self.loaded = loaded
        self.name = loaded.name
        self.max_new_tokens = max_new_tokens
        self._lock = threading.Lock()

    async def close(self) -> None:
        return None

    def _settings(self, request: ChatCompletionRequest):
        from safealign.models import GenerationConfig

        wanted = request.max_completion_tokens or request.max_tokens or self.max_new_tokens
        return GenerationConfig(
            max_new_tokens=max(1, min(wanted, self.max_new_tokens)),
            temperature=request.temperature or 0.0,
            top_p=request.top_p if request.top_p is not None else 1.0,
            seed=request.seed or 0,
            batch_size=1,
        )

    async def complete(self, request: ChatCompletionRequest) -> ChatResult:
        from safealign.models import generate

        settings = self._settings(request)
        messages = as_messages(request)

        def run():
            with self._lock:
                return generate(self.loaded, [messages], settings, progress=False)[0][0]

        out = await asyncio.get_running_loop().run_in_executor(None, run)
        usage = _usage(out.num_prompt_tokens, out.num_new_tokens)
        return ChatResult(out.output, out.finish_reason, usage)

    async def stream(self, request: ChatCompletionRequest) -> AsyncIterator[str | StreamEnd]:
        # transformers' streamer and generate are imported here: proxy mode never needs them.
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        from safealign.models import end_of_turn_ids, render_prompt

        settings = self._settings(request)
        tokenizer = self.loaded.tokenizer
        text = render_prompt(tokenizer, as_messages(request))
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancelled = threading.Event()
        counts = {"new": 0}
        stop_ids = end_of_turn_ids(tokenizer)

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                counts["new"] = input_ids.shape[1] - ids.shape[1]
                return cancelled.is_set()

        sampling: dict[str, Any] = {"do_sample": False}
        if not settings.greedy:
            sampling = {
                "do_sample": True,
                "temperature": settings.temperature,
                "top_p": settings.top_p,
            }

        def run() -> None:
            with self._lock, torch.inference_mode():
                if not settings.greedy:
                    torch.manual_seed(settings.seed)
                self.loaded.model.generate(
                    input_ids=ids.to(self.loaded.device),
                    attention_mask=torch.ones_like(ids).to(self.loaded.device),
                    max_new_tokens=settings.max_new_tokens,
                    eos_token_id=stop_ids,
                    pad_token_id=tokenizer.pad_token_id,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Cancel()]),
                    top_k=None,
                    **sampling,
                )

        worker = threading.Thread(target=run, name="local-generate", daemon=True)
        worker.start()
        loop = asyncio.get_running_loop()
        done = object()
        try:
            while True:
                piece = await loop.run_in_executor(None, next, streamer, done)
                if piece is done:
                    break
                if piece:
                    yield piece
        finally:
            cancelled.set()
        await loop.run_in_executor(None, worker.join)
        finish = "length" if counts["new"] >= settings.max_new_tokens else "stop"
        yield StreamEnd(finish, _usage(ids.shape[1], counts["new"]))


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
