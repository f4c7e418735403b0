"""The serving logic behind each route, with no HTTP in it: guard calls (batched, with a timeout),
the chat pipeline (input guard -> model -> output guard -> policy), and one audit row per
request. Routes in `app.py` only parse, authenticate and call these.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from safealign.guard import Verdict
from safealign.serve.audit import AuditRecord, AuditStore
from safealign.serve.backends import ChatBackend, StreamEnd, as_messages
from safealign.serve.batching import GuardBatcher
from safealign.serve.config import ServeConfig
from safealign.serve.errors import APIError, too_long
from safealign.serve.metrics import ServiceMetrics
from safealign.serve.moderation import moderation_result, verdict_out, verdict_record
from safealign.serve.policy import Decision, annotation, decide
from safealign.serve.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    GuardCheckRequest,
    GuardCheckResponse,
    ModerationRequest,
    ModerationResponse,
    Usage,
)
from safealign.serve.streaming import BLOCKING, Finished, GuardUnavailable, Released, guard_stream

log = logging.getLogger("safealign.serve")
OPENAI_MODERATION_MODELS = (
    "omni-moderation-latest",
    "text-moderation-latest",
    "text-moderation-stable",
)
WORD = re.compile(r"\S+\s*|\s+")


@dataclass
class RequestContext:
    """Who asked, and what to record."""

    request_id: str
    key_id: str
    started: float = field(default_factory=time.perf_counter)
    audited: bool = False
    """Set once the request's audit row is queued (one row per request, never two)."""


class GuardService:
    """The guard, the chat backend, the policy and the audit log of one running service."""

    def __init__(
        self,
        config: ServeConfig,
        batcher: GuardBatcher,
        metrics: ServiceMetrics,
        audit: AuditStore | None,
        backend: ChatBackend | None,
    ) -> None:
        self.config = config
        self.batcher = batcher
        self.metrics = metrics
        self.audit = audit
        self.backend = backend

    # -- guard calls -----------------------------------------------------------------------

    async def verdicts(self, conversations: Sequence[Any]) -> list[Verdict]:
        """Batched guard verdicts within `guard_timeout_s`; GuardUnavailable otherwise."""
        try:
            return await asyncio.wait_for(
                self.batcher.classify(conversations), self.config.guard_timeout_s
            )
        except TimeoutError as exc:
            self.metrics.errors.labels("guard_timeout").inc()
            raise GuardUnavailable("the guard gave no verdict in time") from exc
        except Exception as exc:  # the guard itself failed
            self.metrics.errors.labels("guard_error").inc()
            log.error("guard failed: %s", type(exc).__name__)
            raise GuardUnavailable(f"the guard failed ({type(exc).__name__})") from exc

    def _count_flags(self, stage: str, verdict: Verdict) -> None:
        for name in verdict.flagged_categories:
            self.metrics.flags.labels(stage, name).inc()
        if verdict.harmful and not verdict.flagged_categories:
            self.metrics.flags.labels(stage, "uncategorised").inc()

    # -- /v1/moderations -------------------------------------------------------------------

    async def moderate(self, request: ModerationRequest, ctx: RequestContext) -> ModerationResponse:
        cfg = self.config
        model = request.model or cfg.guard_model_name
        if model not in (cfg.guard_model_name, *OPENAI_MODERATION_MODELS):
            raise APIError(
                404,
                f"the model '{model}' does not exist here; use '{cfg.guard_model_name}'.",
                code="model_not_found",
                param="model",
            )
        texts = [request.input] if isinstance(request.input, str) else list(request.input)
        if not texts:
            raise APIError(400, "input is empty; give a string or a list of strings.")
        if len(texts) > cfg.max_inputs:
            raise APIError(
                400, f"input has {len(texts)} items; at most {cfg.max_inputs}.", param="input"
            )
        for text in texts:
            if len(text) > cfg.max_text_chars:
                raise too_long("input", cfg.max_text_chars)
        try:
            verdicts = await self.verdicts(texts)
        except GuardUnavailable as exc:
            if cfg.fail_mode == "closed":
                self._audit(ctx, "/v1/moderations", "error", 503, model, error="guard_unavailable")
                raise _unavailable(exc) from exc
            verdicts = [Verdict() for _ in texts]  # fail-open: nothing flagged, row marked
            self._audit(ctx, "/v1/moderations", "allow", 200, model, error="guard_unavailable")
            return ModerationResponse(
                id=ctx.request_id, model=model, results=[moderation_result(v) for v in verdicts]
            )
        results = [moderation_result(v) for v in verdicts]
        for verdict in verdicts:
            self._count_flags("input", verdict)
        flagged = any(r.flagged for r in results)
        self._audit(
            ctx,
            "/v1/moderations",
            "flag" if flagged else "allow",
            200,
            model,
            flagged=flagged,
            severity=max((v.severity or 0) for v in verdicts),
            categories=sorted({c for v in verdicts for c in v.flagged_categories}),
            verdict=[verdict_record(v) for v in verdicts],
            prompt="\n".join(texts),
        )
        return ModerationResponse(id=ctx.request_id, model=model, results=results)

    # -- /v1/guard/check -------------------------------------------------------------------

    async def check(self, request: GuardCheckRequest, ctx: RequestContext) -> GuardCheckResponse:
        cfg = self.config
        if request.messages:
            if len(request.messages) > cfg.max_inputs:
                raise APIError(400, f"at most {cfg.max_inputs} messages.", param="messages")
            conversation: Any = [{"role": m.role, "content": m.text()} for m in request.messages]
            texts = [m["content"] for m in conversation]
            if not any(m["role"] == "user" for m in conversation):
                raise APIError(400, "messages need at least one user message.", param="messages")
        elif request.prompt is not None:
            conversation = [{"role": "user", "content": request.prompt}]
            if request.response is not None:
                conversation.append({"role": "assistant", "content": request.response})
            texts = [request.prompt, request.response or ""]
        else:
            raise APIError(
                400, 'give "prompt" (and optionally "response"), or "messages".', param="prompt"
            )
        for text in texts:
            if len(text) > cfg.max_text_chars:
                raise too_long("messages", cfg.max_text_chars)
        try:
            (verdict,) = await self.verdicts([conversation])
        except GuardUnavailable as exc:
            self._audit(ctx, "/v1/guard/check", "error", 503, cfg.guard, error="guard_unavailable")
            raise _unavailable(exc) from exc
        stage = "output" if verdict.response_harmful is not None else "input"
        self._count_flags(stage, verdict)
        self._audit(
            ctx,
            "/v1/guard/check",
            "flag" if verdict.harmful else "allow",
            200,
            cfg.guard,
            flagged=bool(verdict.harmful),
            severity=verdict.severity,
            categories=list(verdict.flagged_categories),
            verdict=verdict_record(verdict),
            prompt=texts[0] if texts else None,
            response=request.response,
        )
        return GuardCheckResponse(id=ctx.request_id, verdict=verdict_out(verdict))

    # -- /v1/chat/completions --------------------------------------------------------------

    def validate_chat(self, request: ChatCompletionRequest) -> None:
        cfg = self.config
        if self.backend is None:
            raise APIError(
                404,
                "chat is off: start the service with upstream_url (proxy) or model (local).",
                code="model_not_found",
                param="model",
            )
        if cfg.served_model_name and request.model != cfg.served_model_name:
            raise APIError(
                404,
                f"the model '{request.model}' does not exist here; use '{cfg.served_model_name}'.",
                code="model_not_found",
                param="model",
            )
        if not request.messages:
            raise APIError(400, "messages is empty.", param="messages")
        if len(request.messages) > cfg.max_inputs:
            raise APIError(400, f"at most {cfg.max_inputs} messages.", param="messages")
        for message in request.messages:
            if len(message.text()) > cfg.max_text_chars:
                raise too_long("messages.content", cfg.max_text_chars)
        if not any(m.role == "user" for m in request.messages):
            raise APIError(400, "messages need at least one user message.", param="messages")

    async def input_decision(self, request: ChatCompletionRequest) -> tuple[Decision | None, Any]:
        """The input guard's decision; None when the guard failed open."""
        conversation = _guard_messages(request)
        try:
            (verdict,) = await self.verdicts([conversation])
        except GuardUnavailable as exc:
            if self.config.fail_mode == "closed":
                raise _unavailable(exc) from exc
            return None, None
        self._count_flags("input", verdict)
        decision = decide(verdict, "input", self.config.policy)
        self.metrics.actions.labels("input", decision.action).inc()
        return decision, verdict

    def output_check(self, request: ChatCompletionRequest):
        """A check function for the streaming guard: (answer text so far) -> Decision."""
        context = _guard_messages(request)
        if not self.config.output_guard:

            async def unchecked(answer: str) -> Decision:
                return Decision("allow", "output", False, 0)

            return unchecked

        async def check(answer: str) -> Decision:
            (verdict,) = await self.verdicts([[*context, {"role": "assistant", "content": answer}]])
            self._count_flags("output", verdict)
            return decide(verdict, "output", self.config.policy)

        return check

    async def chat(self, request: ChatCompletionRequest, ctx: RequestContext) -> ChatCompletion:
        """Non-streaming chat: the whole answer is judged once; a course-correction cuts it
        where the first window is flagged, as the stream would have."""
        assert self.backend is not None
        cfg = self.config
        try:
            first, _ = await self.input_decision(request)
        except APIError:
            self._audit_chat(ctx, request, "error", 503, None, None, error="guard_unavailable")
            raise
        if first is not None and first.action in BLOCKING:
            self._audit_chat(ctx, request, "refuse", 200, first, None)
            return self._completion(
                request, ctx, cfg.policy.refusal_message, "content_filter", {}, [first]
            )
        try:
            result = await self.backend.complete(request)
        except APIError as exc:
            self.metrics.errors.labels(exc.code or exc.type).inc()
            self._audit_chat(ctx, request, "error", exc.status, first, None, error=exc.code)
            raise
        check = self.output_check(request)
        text, finish, error = result.text, result.finish_reason, None
        try:
            second = await check(result.text)
        except GuardUnavailable:
            second = None
            error = "guard_unavailable"
            if cfg.fail_mode == "closed":
                text, finish = cfg.policy.refusal_message, "content_filter"
        if second is not None and second.action == "refuse":
            text, finish = cfg.policy.refusal_message, "content_filter"
        elif second is not None and second.action == "course_correct":
            text, finish = await self._cut(result.text, check)
        decisions = [d for d in (first, second) if d is not None]
        action = _final_action(decisions, error, cfg.fail_mode)
        self.metrics.actions.labels("output", second.action if second else "error").inc()
        self._audit_chat(ctx, request, action, 200, first, second, response=text, error=error)
        return self._completion(request, ctx, text, finish, result.usage, decisions)

    async def _cut(self, answer: str, check) -> tuple[str, str]:
        """The answer up to its first flagged window, then the correction."""
        pieces = WORD.findall(answer)

        async def words() -> AsyncIterator[str | StreamEnd]:
            for piece in pieces:
                yield piece
            yield StreamEnd("stop")

        kept: list[str] = []
        async for event in guard_stream(
            words(),
            check,
            self.config.policy,
            self.config.stream_window_tokens,
            self.config.stream_context_chars,
        ):
            if isinstance(event, Released):
                kept.append(event.text)
            elif event.finish_reason == "content_filter":
                return "".join(kept), "content_filter"
        # No window is flagged on its own, but the whole answer is: correct from the start.
        return self.config.policy.correction_message.lstrip(), "content_filter"

    async def chat_stream(
        self, request: ChatCompletionRequest, ctx: RequestContext
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as the model produces them, each window checked before it is sent."""
        assert self.backend is not None
        cfg = self.config
        try:
            first, _ = await self.input_decision(request)
        except APIError:
            self._audit_chat(ctx, request, "error", 503, None, None, error="guard_unavailable")
            raise
        model = request.model
        chunk_id = ctx.request_id
        note = annotation([first]) if first is not None and first.action == "annotate" else None
        if first is not None and first.action in BLOCKING:
            self._audit_chat(ctx, request, "refuse", 200, first, None)
            yield _chunk(chunk_id, model, Delta(role="assistant", content=""), None, note)
            yield _chunk(chunk_id, model, Delta(content=cfg.policy.refusal_message), None)
            yield _chunk(chunk_id, model, Delta(), "content_filter")
            return
        try:  # the upstream's first event before the first chunk, so its errors keep a status
            deltas = await _started(self.backend.stream(request))
        except APIError as exc:
            self.metrics.errors.labels(exc.code or exc.type).inc()
            self._audit_chat(ctx, request, "error", exc.status, first, None, error=exc.code)
            raise
        yield _chunk(chunk_id, model, Delta(role="assistant", content=""), None, note)
        sent: list[str] = []
        final: Finished | None = None
        try:
            async for event in guard_stream(
                deltas,
                self.output_check(request),
                cfg.policy,
                cfg.stream_window_tokens if cfg.output_guard else 1,
                cfg.stream_context_chars,
                fail_open=cfg.fail_mode == "open",
            ):
                if isinstance(event, Released):
                    if cfg.audit_texts:
                        sent.append(event.text)
                    if event.text:
                        yield _chunk(chunk_id, model, Delta(content=event.text), None)
                else:
                    final = event
        except APIError as exc:  # the upstream failed mid-stream: say so in the stream
            self.metrics.errors.labels(exc.code or exc.type).inc()
            self._audit_chat(ctx, request, "error", exc.status, first, None, error=exc.code)
            raise
        assert final is not None
        decisions = [d for d in (first, final.decision) if d is not None]
        action = _final_action(decisions, final.error, cfg.fail_mode)
        if final.decision is not None:
            self.metrics.actions.labels("output", final.decision.action).inc()
        note = annotation(decisions) if action == "annotate" else None
        self._audit_chat(
            ctx,
            request,
            action,
            200,
            first,
            final.decision,
            response="".join(sent) if sent else None,
            error=final.error,
        )
        yield _chunk(chunk_id, model, Delta(), final.finish_reason, note)

    def _completion(self, request, ctx, text, finish, usage, decisions) -> ChatCompletion:
        annotate = any(d.action != "allow" or d.needs_review for d in decisions)
        return ChatCompletion(
            id=ctx.request_id,
            model=request.model,
            choices=[Choice(message=AssistantMessage(content=text), finish_reason=finish)],
            usage=Usage(**{k: v for k, v in (usage or {}).items() if k in Usage.model_fields}),
            safealign=annotation(decisions) if annotate else None,
        )

    # -- audit -----------------------------------------------------------------------------

    def _audit_chat(self, ctx, request, action, status, first, second, response=None, error=None):
        decisions = [d for d in (first, second) if d is not None]
        prompt = next((m.text() for m in reversed(request.messages) if m.role == "user"), None)
        self._audit(
            ctx,
            "/v1/chat/completions",
            action,
            status,
            request.model,
            flagged=any(d.flagged for d in decisions) if decisions else None,
            severity=max((d.severity for d in decisions), default=None),
            categories=sorted({c for d in decisions for c in d.categories}),
            verdict=annotation(decisions),
            prompt=prompt,
            response=response,
            error=error,
        )

    def _audit(
        self,
        ctx: RequestContext,
        endpoint: str,
        action: str,
        status: int,
        model,
        *,
        flagged=None,
        severity=None,
        categories=(),
        verdict=None,
        prompt=None,
        response=None,
        error=None,
    ) -> None:
        if ctx.audited:
            return
        ctx.audited = True
        if self.audit is None:
            return
        keep = self.config.audit_texts
        self.audit.record(
            AuditRecord(
                request_id=ctx.request_id,
                key_id=ctx.key_id,
                endpoint=endpoint,
                action=action,
                latency_ms=(time.perf_counter() - ctx.started) * 1000.0,
                status=status,
                model=model,
                flagged=flagged,
                severity=severity,
                categories=list(categories),
                verdict=verdict,
                policy_version=self.config.policy.version,
                error=error,
                prompt_text=prompt if keep else None,
                response_text=response if keep else None,
            )
        )

    @staticmethod
    def audited(ctx: RequestContext) -> bool:
        return ctx.audited

    def audit_error(self, ctx: RequestContext, endpoint: str, status: int, code: str | None):
        """A request refused before any decision (auth, limits, bad input) still gets its row."""
        self._audit(ctx, endpoint, "reject", status, None, error=code)


async def _started(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """`stream` with its first item already fetched (errors surface here, not mid-response)."""
    head = await anext(stream)

    async def chained() -> AsyncIterator[Any]:
        try:
            yield head
            async for item in stream:
                yield item
        finally:
            await stream.aclose()

    return chained()


def _guard_messages(request: ChatCompletionRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in as_messages(request)]


def _final_action(decisions: list[Decision], error: str | None, fail_mode: str) -> str:
    from safealign.serve.streaming import RANK

    if error and fail_mode == "closed":
        return "refuse"
    actions = [d.action for d in decisions] or ["allow"]
    return max(actions, key=lambda a: RANK[a])


def _chunk(chunk_id, model, delta, finish, note=None) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id=chunk_id,
        model=model,
        choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        safealign=note,
    )


def _unavailable(exc: Exception) -> APIError:
    return APIError(
        503,
        f"{exc}; the service fails closed. Retry later, or set fail_mode: open.",
        type="guard_unavailable",
        code="guard_timeout",
        headers={"Retry-After": "1"},
    )
