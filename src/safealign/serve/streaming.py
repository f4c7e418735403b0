"""The streaming output guard: a sliding window over the answer while it is generated.

Deltas are held back until `window` of them have arrived; that window, with the tail of the
answer already sent (`context_chars`), is checked; if the policy lets it through, the window is
released to the client. So a token waits at most one window (plus one guard call), the guard
sees every token before the client does, and only the tail is kept, never the whole answer.
When the policy blocks a window, it is dropped, the correction (or refusal) text is sent in its
place, and the stream ends with finish_reason "content_filter".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from safealign.serve.backends import StreamEnd
from safealign.serve.config import PolicyConfig
from safealign.serve.policy import Decision

BLOCKING = ("refuse", "course_correct")


class GuardUnavailable(Exception):
    """The guard gave no verdict in time (or failed)."""


@dataclass
class Released:
    """Text the client may see now."""

    text: str


@dataclass
class Finished:
    finish_reason: str
    usage: dict[str, int] = field(default_factory=dict)
    decision: Decision | None = None
    """The output decision that mattered most (the blocking one, else the strongest seen)."""
    error: str | None = None


Check = Callable[[str], Awaitable[Decision]]
"""Judges the answer text so far (tail + window) and applies the policy."""


async def guard_stream(
    deltas: AsyncIterator[str | StreamEnd],
    check: Check,
    policy: PolicyConfig,
    window: int,
    context_chars: int,
    fail_open: bool = False,
) -> AsyncIterator[Released | Finished]:
    pending: list[str] = []
    tail = ""
    released_any = False
    strongest: Decision | None = None
    end = StreamEnd("stop")
    try:
        while True:
            item = await anext(deltas, None)
            finished = item is None or isinstance(item, StreamEnd)
            if isinstance(item, StreamEnd):
                end = item
            elif item is not None:
                pending.append(item)
            if not pending or (len(pending) < window and not finished):
                if finished:
                    break
                continue
            text = "".join(pending)
            try:
                decision = await check(tail + text)
            except GuardUnavailable:
                if not fail_open:
                    yield Finished("content_filter", end.usage, strongest, "guard_timeout")
                    return
                decision = None
            if decision is not None:
                strongest = _stronger(strongest, decision)
                if decision.action in BLOCKING:
                    yield Released(_replacement(decision.action, policy, released_any))
                    yield Finished("content_filter", end.usage, decision)
                    return
            yield Released(text)
            released_any = True
            tail = (tail + text)[-context_chars:] if context_chars > 0 else ""
            pending = []
            if finished:
                break
        yield Finished(end.finish_reason, end.usage, strongest)
    finally:
        close = getattr(deltas, "aclose", None)
        if close is not None:
            await close()  # stops the upstream request or the local generation


def _replacement(action: str, policy: PolicyConfig, released_any: bool) -> str:
    if action == "refuse" and not released_any:
        return policy.refusal_message
    return policy.correction_message


RANK = {"allow": 0, "annotate": 1, "course_correct": 2, "refuse": 3}


def _stronger(a: Decision | None, b: Decision) -> Decision:
    if a is None or RANK[b.action] > RANK[a.action]:
        return b
    return a
