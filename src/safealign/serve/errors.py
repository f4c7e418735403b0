"""Errors the service answers with, in OpenAI's error shape, so official clients raise the
matching exception (AuthenticationError on 401, RateLimitError on 429, ...)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from safealign.serve.protocol import ErrorDetail, ErrorResponse


class APIError(Exception):
    """An HTTP error with an OpenAI-shaped body; `headers` carries Retry-After and the like."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return error_response(
            self.status, self.message, self.type, self.code, self.param, self.headers
        )


def error_response(
    status: int,
    message: str,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(message=message, type=type, code=code, param=param))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def too_long(field: str, limit: int) -> APIError:
    return APIError(
        400,
        f"{field} is longer than {limit} characters; shorten it or raise max_text_chars.",
        code="string_above_max_length",
        param=field,
    )
