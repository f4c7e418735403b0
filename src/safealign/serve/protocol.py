"""The wire protocol: pydantic models of the OpenAI request and response shapes we serve,
plus safealign's own fields. Nothing here knows about guards, models or HTTP routing.

Requests accept unknown fields (clients send many OpenAI options); the chat request keeps them
so proxy mode passes them to the upstream untouched.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# -- errors -----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body: {"error": {"message", "type", "param", "code"}}."""

    error: ErrorDetail


# -- moderations ------------------------------------------------------------------------------


class ModerationRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    input: str | list[str]
    model: str | None = None


class ModerationResult(BaseModel):
    """One OpenAI moderation result, plus safealign's taxonomy-level view of the same verdict."""

    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: dict[str, list[str]] = Field(default_factory=dict)
    severity: int | None = None
    """0 safe, 1 minor, 2 moderate, 3 severe."""
    taxonomy: str | None = None
    taxonomy_codes: list[str] = Field(default_factory=list)
    """Codes of the flagged categories in the guard's taxonomy."""
    taxonomy_scores: dict[str, float] = Field(default_factory=dict)
    """Score per category of the guard's own taxonomy, keyed by code."""
    needs_review: bool | None = None
    """The guard's uncertainty band (None when the guard has none)."""
    harmful_probability: float | None = None


class ModerationResponse(BaseModel):
    id: str
    model: str
    results: list[ModerationResult]


# -- guard check ------------------------------------------------------------------------------


class ChatMessage(BaseModel):
    """A chat message; `content` may be OpenAI's list of parts (text parts are joined)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if isinstance(p, dict))


class GuardCheckRequest(BaseModel):
    """A prompt, a prompt with a response, or a conversation (the last assistant turn is the
    response)."""

    prompt: str | None = None
    response: str | None = None
    messages: list[ChatMessage] | None = None


class LabelScoreOut(BaseModel):
    probability: float
    label: bool | None


class VerdictOut(BaseModel):
    """`safealign.guard.Verdict` on the wire (fields the guard does not fill stay null)."""

    model_config = ConfigDict(extra="allow")

    prompt_harmful: LabelScoreOut | None = None
    response_harmful: LabelScoreOut | None = None
    refusal: LabelScoreOut | None = None
    categories: dict[str, float] = Field(default_factory=dict)
    flagged_categories: list[str] = Field(default_factory=list)
    severity: int | None = None
    parse_error: str | None = None
    taxonomy: str | None = None
    harmful: bool | None = None
    needs_review: bool | None = None


class GuardCheckResponse(BaseModel):
    id: str
    verdict: VerdictOut


# -- chat completions -------------------------------------------------------------------------


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage]
    stream: bool = False
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    seed: int | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str | None
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    safealign: dict[str, Any] | None = None
    """Guard decisions for this answer (annotations), when the policy annotates."""


class Delta(BaseModel):
    role: str | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[ChunkChoice]
    safealign: dict[str, Any] | None = None


# -- models -----------------------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=lambda: int(time.time()))
    owned_by: str = "safealign"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"
