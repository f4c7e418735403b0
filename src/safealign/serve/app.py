"""App wiring: routes, authentication, limits and error shapes around `handlers.GuardService`.

`create_app(config)` returns a FastAPI app whose lifespan loads the guard (and the local model)
in a worker thread, so /healthz answers at once and /readyz turns true only when the guard is
usable. Tests pass a ready guard (and backend) in to share one across several apps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from safealign.serve.audit import AuditStore
from safealign.serve.auth import KeyStore, RateLimiter, retry_after_header
from safealign.serve.backends import ChatBackend, LocalBackend, UpstreamBackend
from safealign.serve.batching import GuardBatcher
from safealign.serve.config import ServeConfig
from safealign.serve.errors import APIError, error_response
from safealign.serve.handlers import GuardService, RequestContext
from safealign.serve.metrics import ServiceMetrics
from safealign.serve.protocol import (
    ChatCompletionRequest,
    GuardCheckRequest,
    ModelCard,
    ModelList,
    ModerationRequest,
    new_id,
)

log = logging.getLogger("safealign.serve")
OPEN_ROUTES = ("/healthz", "/readyz", "/metrics")


class BodyTooLarge(Exception):
    pass


def create_app(
    config: ServeConfig | None = None,
    *,
    guard: Any = None,
    backend: ChatBackend | None = None,
    audit: AuditStore | None = None,
) -> FastAPI:
    """The service for `config`; `guard`, `backend` and `audit` replace what it would build."""
    config = config or ServeConfig()
    metrics = ServiceMetrics()
    keys = KeyStore(config.api_keys, config.api_keys_file)
    limiter = RateLimiter(config.rate_limit_per_minute, config.rate_limit_burst)
    state: dict[str, Any] = {"ready": False, "guard": guard, "error": None}

    def classify(conversations):
        # Runs in the batcher's one guard thread: the thread count is set there, once.
        if config.guard_threads > 0 and not state.get("threads_set"):
            import torch  # loaded already by the guard; imported here only to set threads

            torch.set_num_threads(config.guard_threads)
            state["threads_set"] = True
        return state["guard"].classify(conversations)

    batcher = GuardBatcher(
        classify, config.batch_max_size, config.batch_wait_ms / 1000.0, metrics.on_batch
    )
    owns_audit = audit is None
    if audit is None and config.audit_enabled:
        audit = AuditStore(config.audit_url)
    service = GuardService(config, batcher, metrics, audit, backend)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if keys.open:
            log.warning(
                "safealign serve: no API key configured, the service is OPEN to anyone who can "
                "reach %s:%s. Set api_keys, api_keys_file or SAFEALIGN_API_KEYS.",
                config.host,
                config.port,
            )
        batcher.start()
        loading = asyncio.get_running_loop().create_task(_load(config, state, service))
        try:
            yield
        finally:
            loading.cancel()
            await batcher.stop()
            if service.backend is not None:
                await service.backend.close()
            if audit is not None and owns_audit:
                await asyncio.get_running_loop().run_in_executor(None, audit.close)
            elif audit is not None:
                audit.flush()

    app = FastAPI(
        title="safealign guardrail service",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    app.state.keys = keys
    app.state.ready = state
    app.state.audit = audit

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(_BodyLimit, limit=config.max_request_bytes)

    app.add_middleware(_Observe, metrics=metrics)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = "not_found" if exc.status_code == 404 else None
        return error_response(exc.status_code, str(exc.detail), code=code)

    def authenticate(request: Request, route: str) -> RequestContext:
        header = request.headers.get("authorization", "")
        presented = header[7:].strip() if header.lower().startswith("bearer ") else None
        key = keys.identify(presented)
        if key is None:
            metrics.errors.labels("unauthorized").inc()
            raise APIError(
                401,
                "Incorrect or missing API key: send it as 'Authorization: Bearer <key>'."
                if presented is None
                else "Incorrect API key provided.",
                type="invalid_request_error",
                code="invalid_api_key",
            )
        wait = limiter.check(key)
        if wait > 0:
            metrics.errors.labels("rate_limited").inc()
            raise APIError(
                429,
                f"Rate limit reached for this key ({config.rate_limit_per_minute} requests per "
                "minute); retry after the Retry-After seconds.",
                type="rate_limit_exceeded",
                code="rate_limit_exceeded",
                headers=retry_after_header(wait),
            )
        if not state["ready"]:
            raise APIError(
                503,
                state["error"] or "the guard is still loading; retry in a few seconds.",
                type="service_unavailable",
                headers={"Retry-After": "2"},
            )
        return RequestContext(request_id=new_id(route), key_id=key)

    async def run(request: Request, route: str, model: type[BaseModel], handler):
        ctx = authenticate(request, route)
        try:
            body = await _parse(request, model)
            return ctx, await handler(body, ctx)
        except APIError as exc:
            if not service.audited(ctx):
                service.audit_error(ctx, request.url.path, exc.status, exc.code)
            raise

    @app.post("/v1/moderations")
    async def moderations(request: Request):
        ctx, result = await run(request, "modr", ModerationRequest, service.moderate)
        return _json(result, ctx)

    @app.post("/v1/guard/check")
    async def guard_check(request: Request):
        ctx, result = await run(request, "chk", GuardCheckRequest, service.check)
        return _json(result, ctx)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        async def start(body: ChatCompletionRequest, ctx: RequestContext):
            service.validate_chat(body)
            if not body.stream:
                return await service.chat(body, ctx)
            chunks = service.chat_stream(body, ctx)
            first = await anext(chunks)  # input guard and upstream start: errors keep a status
            return _sse(first, chunks, service, ctx)

        ctx, result = await run(request, "chatcmpl", ChatCompletionRequest, start)
        if isinstance(result, StreamingResponse):
            result.headers["x-request-id"] = ctx.request_id
            return result
        return _json(result, ctx)

    @app.get("/v1/models")
    async def models(request: Request):
        authenticate(request, "models")
        names = [config.guard_model_name]
        if config.served_model_name:
            names.append(config.served_model_name)
        elif isinstance(service.backend, UpstreamBackend):
            names.extend(await service.backend.models())
        elif service.backend is not None:
            names.append(service.backend.name)
        return JSONResponse(ModelList(data=[ModelCard(id=n) for n in names]).model_dump())

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        body = {"ready": state["ready"], "guard": config.guard, "chat": config.chat_mode}
        if state["error"]:
            body["error"] = state["error"]
        return JSONResponse(body, status_code=200 if state["ready"] else 503)

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


async def _load(config: ServeConfig, state: dict[str, Any], service: GuardService) -> None:
    """Load the guard (and local model) off the event loop; /readyz turns true after."""
    loop = asyncio.get_running_loop()
    try:
        if state["guard"] is None:
            from safealign.guard import load_guard

            state["guard"] = await loop.run_in_executor(
                None, lambda: load_guard(config.guard, dtype=config.guard_dtype)
            )
        if service.backend is None and config.chat_mode == "proxy":
            api_key = config.upstream_api_key or os.environ.get("SAFEALIGN_UPSTREAM_API_KEY")
            service.backend = UpstreamBackend(
                config.upstream_url, api_key, config.upstream_timeout_s
            )
        elif service.backend is None and config.chat_mode == "local":
            from safealign.models import load_model

            loaded = await loop.run_in_executor(None, lambda: load_model(config.model))
            service.backend = LocalBackend(loaded, config.max_new_tokens)
            if not config.served_model_name:
                config.served_model_name = config.model
        state["ready"] = True
        log.info("safealign serve: ready (guard %s, chat %s)", config.guard, config.chat_mode)
    except Exception as exc:
        state["error"] = f"loading failed: {exc}"
        log.error("safealign serve: %s", state["error"])


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.body()
    except BodyTooLarge as exc:
        raise APIError(
            413,
            "the request body is larger than the service accepts; send less per request "
            "or raise max_request_bytes.",
            code="request_too_large",
        ) from exc
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(
            400,
            f"the request body is not valid JSON ({exc}); send a JSON object with "
            "Content-Type: application/json.",
            code="invalid_json",
        ) from exc
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise APIError(400, f"{where or 'body'}: {first.get('msg')}", param=where or None) from exc


def _json(result: BaseModel, ctx: RequestContext) -> JSONResponse:
    return JSONResponse(
        result.model_dump(exclude_none=False), headers={"x-request-id": ctx.request_id}
    )


def _sse(first, chunks: AsyncIterator, service: GuardService, ctx: RequestContext):
    async def events():
        try:
            yield f"data: {first.model_dump_json(exclude_none=True)}\n\n"
            async for chunk in chunks:
                yield f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"
            yield "data: [DONE]\n\n"
        except APIError as exc:  # after the first byte the status is sent: error as an event
            body = {"error": {"message": exc.message, "type": exc.type, "code": exc.code}}
            yield f"data: {json.dumps(body)}\n\n"
        finally:
            await chunks.aclose()
            if not service.audited(ctx):
                service.audit_error(ctx, "/v1/chat/completions", 499, "client_disconnected")

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


class _Observe:
    """Requests and latency per route (plain ASGI: Starlette's BaseHTTPMiddleware costs more per
    request than the rest of a moderation call outside the guard)."""

    def __init__(self, app, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def tracking_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            path = scope.get("path", "")
            route = path if path.startswith(("/v1/", *OPEN_ROUTES)) else "other"
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


class _BodyLimit:
    """413 for bodies over the limit, by Content-Length or by counting a chunked body."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._reject(scope, receive, send)
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope, receive, send):
        response = error_response(
            413,
            f"the request body is larger than {self.limit} bytes; send less per request or "
            "raise max_request_bytes.",
            code="request_too_large",
        )
        await response(scope, receive, send)
