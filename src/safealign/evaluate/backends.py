"""Model backends: where generations come from.

`TransformersBackend` runs a `LoadedModel` in-process (batched, length-sorted); it calls the
model's forward, so a model altered in place (steering hooks, merged adapters) is evaluated as
it is. `OpenAIBackend` talks to any OpenAI-compatible chat-completions server (vLLM, TGI,
safealign's own service) with a concurrency limit, timeouts and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from safealign.data.schema import Message, messages_to_dicts
from safealign.errors import SafealignError
from safealign.interrupts import StopRequest, stop_requests
from safealign.io import Journal
from safealign.models import GenerationConfig, LoadedModel, generate
from safealign.models.chat import as_messages


class BackendError(SafealignError):
    """A backend that cannot produce generations (server unreachable, bad responses)."""


@runtime_checkable
class ChatBackend(Protocol):
    """Generates `config.num_samples` continuations per conversation, in input order.

    With `journal` (a file), finished answers are recorded as they come and Ctrl-C raises
    KeyboardInterrupt once the answers in flight are recorded; with `resume`, answers the
    journal holds for the same model, prompts and decoding are reused, not asked again.
    """

    name: str
    chat_template: str | None

    def generate(
        self,
        conversations: Sequence[list[Message]],
        config: GenerationConfig,
        assistant_prefixes: Sequence[str | None] | None = None,
        journal: str | Path | None = None,
        resume: bool = False,
    ) -> list[list[str]]: ...


@dataclass
class TransformersBackend:
    """An in-process transformers model (any nn.Module changes to it are kept)."""

    loaded: LoadedModel
    progress: bool = True

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def chat_template(self) -> str | None:
        return self.loaded.chat_template

    def generate(
        self,
        conversations: Sequence[list[Message]],
        config: GenerationConfig,
        assistant_prefixes: Sequence[str | None] | None = None,
        journal: str | Path | None = None,
        resume: bool = False,
    ) -> list[list[str]]:
        results = generate(
            self.loaded,
            list(conversations),
            config,
            assistant_prefixes=assistant_prefixes,
            progress=self.progress,
            journal=journal,
            resume=resume,
        )
        return [[g.output for g in samples] for samples in results]


@dataclass
class OpenAIBackend:
    """Any OpenAI-compatible `/v1/chat/completions` endpoint.

    Assistant prefixes are sent as a final assistant message with `continue_final_message`
    (vLLM's flag for prefilling); servers that ignore it answer from scratch, so prefill results
    from such servers measure something else, and the run records the backend used.
    """

    base_url: str
    model: str
    api_key: str | None = None
    max_concurrency: int = 8
    """Requests in flight at once."""
    timeout_s: float = 60.0
    retries: int = 3
    """Retries on connection errors, timeouts, 429 and 5xx, with exponential backoff."""
    backoff_s: float = 0.5
    extra_body: dict[str, Any] = field(default_factory=dict)
    chat_template: str | None = None

    @property
    def name(self) -> str:
        return f"openai:{self.base_url}#{self.model}"

    def generate(
        self,
        conversations: Sequence[list[Message]],
        config: GenerationConfig,
        assistant_prefixes: Sequence[str | None] | None = None,
        journal: str | Path | None = None,
        resume: bool = False,
    ) -> list[list[str]]:
        prefixes = list(assistant_prefixes) if assistant_prefixes else [None] * len(conversations)
        record = None
        if journal is not None:
            settings = [self.name, dataclasses.asdict(config), prefixes]
            settings.append([messages_to_dicts(list(c)) for c in conversations])
            fingerprint = hashlib.sha256(
                json.dumps(settings, sort_keys=True, default=str).encode()
            ).hexdigest()
            record = Journal(journal, fingerprint, resume=resume)
        waiting = stop_requests("answers in flight") if record else contextlib.nullcontext()
        with waiting as stop:
            return asyncio.run(
                self._generate_all(list(conversations), config, prefixes, record, stop)
            )

    async def _generate_all(
        self,
        conversations: list[list[Message]],
        config: GenerationConfig,
        prefixes: list[str | None],
        record: Journal | None,
        stop: StopRequest | None,
    ) -> list[list[str]]:
        import httpx  # only for a served model (optional dependency path)

        limit = asyncio.Semaphore(self.max_concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        done = record.done if record else {}

        async def answer(client: Any, conversation, prefix, index: int) -> list[str]:
            if index in done:
                return done[index]
            if stop is not None and stop.requested:
                raise KeyboardInterrupt
            outputs = await self._one(client, limit, conversation, config, prefix, index)
            if record is not None:
                record.add({index: outputs})
            return outputs

        async with httpx.AsyncClient(
            base_url=self.base_url.rstrip("/"), headers=headers, timeout=self.timeout_s
        ) as client:
            tasks = [
                answer(client, conversation, prefix, index)
                for index, (conversation, prefix) in enumerate(
                    zip(conversations, prefixes, strict=True)
                )
            ]
            answers = list(await asyncio.gather(*tasks))
        if stop is not None and stop.requested:
            raise KeyboardInterrupt  # everything was answered, but the caller asked to stop
        return answers

    async def _one(
        self,
        client: Any,
        limit: asyncio.Semaphore,
        conversation: list[Message],
        config: GenerationConfig,
        prefix: str | None,
        index: int,
    ) -> list[str]:
        messages = messages_to_dicts(as_messages(conversation, config.system_prompt))
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "n": config.num_samples,
            "seed": config.seed + index,
            **self.extra_body,
        }
        if prefix:
            body["messages"] = [*messages, {"role": "assistant", "content": prefix}]
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        async with limit:
            data = await self._post_with_retries(client, body)
        try:
            outputs = [choice["message"]["content"] or "" for choice in data["choices"]]
        except (KeyError, TypeError) as exc:
            raise BackendError(
                f"{self.base_url}: unexpected response shape: {str(data)[:200]}"
            ) from exc
        if prefix:  # some servers echo the prefilled text; keep only the continuation
            outputs = [o[len(prefix) :] if o.startswith(prefix) else o for o in outputs]
        if len(outputs) < config.num_samples:  # servers without `n` return one choice
            raise BackendError(
                f"{self.base_url} returned {len(outputs)} choice(s) for n={config.num_samples}; "
                "set num_samples to 1 for this server."
            )
        return outputs[: config.num_samples]

    async def _post_with_retries(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:
        import httpx  # only for a served model (optional dependency path)

        last = ""
        for attempt in range(self.retries + 1):
            try:
                response = await client.post("/chat/completions", json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code != 429 and response.status_code < 500:
                    break
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        raise BackendError(
            f"{self.base_url}/chat/completions failed after {self.retries + 1} attempt(s): {last}. "
            "Check that the server is running and serves the model "
            f'"{self.model}".'
        )
