"""Dynamic batching: concurrent guard requests share one `guard.classify` call.

Requests queue up; a single worker takes the first, waits at most `max_wait_s` for more (up to
`max_size` items), runs the guard once in a worker thread (the event loop stays free), and hands
each caller its verdict. Throughput then follows the guard's batched speed, not its batch-1
latency, while an idle service adds at most `max_wait_s` to a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from safealign.guard import Verdict


@dataclass
class _Item:
    conversation: Any
    future: asyncio.Future


class GuardBatcher:
    """Gathers conversations from concurrent callers into batched guard calls."""

    def __init__(
        self,
        classify: Callable[[Sequence[Any]], list[Verdict]],
        max_size: int = 32,
        max_wait_s: float = 0.002,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._classify = classify
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task | None = None
        # One thread: torch already uses every core for one batch; two would fight.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guard")

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def classify(self, conversations: Sequence[Any]) -> list[Verdict]:
        """Verdicts for `conversations`, in order (they may share a batch with other callers)."""
        if self._queue is None:
            raise RuntimeError("GuardBatcher.start() was not called")
        loop = asyncio.get_running_loop()
        items = [_Item(c, loop.create_future()) for c in conversations]
        for item in items:
            self._queue.put_nowait(item)
        return list(await asyncio.gather(*(item.future for item in items)))

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_size:
                # Take whatever is already queued, then wait briefly for stragglers.
                while len(batch) < self.max_size and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                remaining = deadline - loop.time()
                if len(batch) >= self.max_size or remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            live = [item for item in batch if not item.future.done()]  # callers that timed out
            if not live:
                continue
            started = time.perf_counter()
            try:
                verdicts = await loop.run_in_executor(
                    self._executor, self._classify, [item.conversation for item in live]
                )
            except Exception as exc:  # the guard failed: every caller in the batch hears why
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            if self._on_batch is not None:
                self._on_batch(len(live), time.perf_counter() - started)
            for item, verdict in zip(live, verdicts, strict=True):
                if not item.future.done():
                    item.future.set_result(verdict)
