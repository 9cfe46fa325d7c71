"""Provider error tables: HTTP status + error body (or a mid-stream error event) -> ``LLMError``.

One function per provider, each a small table. Clients call them for HTTP errors; streaming
interfaces call them for error events that arrive inside a 200 stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import errors as e

_BY_STATUS: dict[int, type[e.LLMError]] = {
    400: e.LLMBadRequestError,
    401: e.LLMAuthenticationError,
    402: e.LLMInsufficientCreditsError,
    403: e.LLMPermissionDeniedError,
    404: e.LLMNotFoundError,
    408: e.LLMTimeoutError,
    413: e.LLMContextWindowExceededError,
    422: e.LLMUnprocessableEntityError,
    429: e.LLMRateLimitError,
    500: e.LLMServerError,
    502: e.LLMServerError,
    503: e.LLMProviderOverloadedError,
    504: e.LLMTimeoutError,
    529: e.LLMProviderOverloadedError,
}

# error "type"/"code" words -> class; checked before the status
_OPENAI_CODES: dict[str, type[e.LLMError]] = {
    "insufficient_quota": e.LLMInsufficientCreditsError,
    "billing_hard_limit_reached": e.LLMInsufficientCreditsError,
    "context_length_exceeded": e.LLMContextWindowExceededError,
    "string_above_max_length": e.LLMContextWindowExceededError,
    "rate_limit_exceeded": e.LLMRateLimitError,
    "invalid_api_key": e.LLMAuthenticationError,
    "model_not_found": e.LLMNotFoundError,
    "server_error": e.LLMServerError,
    "server_is_overloaded": e.LLMProviderOverloadedError,
    "slow_down": e.LLMProviderOverloadedError,
    "invalid_request_error": e.LLMBadRequestError,
    "tool_use_failed": e.LLMBadRequestError,
    "invalid_prompt": e.LLMBadRequestError,
}

_ANTHROPIC_TYPES: dict[str, type[e.LLMError]] = {
    "invalid_request_error": e.LLMBadRequestError,
    "authentication_error": e.LLMAuthenticationError,
    "billing_error": e.LLMInsufficientCreditsError,
    "permission_error": e.LLMPermissionDeniedError,
    "not_found_error": e.LLMNotFoundError,
    "request_too_large": e.LLMContextWindowExceededError,
    "rate_limit_error": e.LLMRateLimitError,
    "api_error": e.LLMServerError,
    "timeout_error": e.LLMTimeoutError,
    "overloaded_error": e.LLMProviderOverloadedError,
}

_CONTEXT_PHRASES = (
    "prompt is too long",
    "context length",
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "too many tokens",
)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds; an HTTP date is ignored)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lower.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def _error_object(body: Any) -> dict[str, Any]:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            return dict(inner)
        if isinstance(inner, str):
            return {"message": inner}
    if isinstance(body, str):
        return {"message": body}
    return {}


def _build(
    cls: type[e.LLMError],
    message: str,
    *,
    provider: str,
    status: int | None,
    request_id: str | None,
    code: str | None,
    body: Any,
    headers: Mapping[str, str] | None,
) -> e.LLMError:
    if cls is e.LLMBadRequestError and any(p in message.lower() for p in _CONTEXT_PHRASES):
        cls = e.LLMContextWindowExceededError
    kwargs: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "request_id": request_id,
        "code": code,
        "body": body,
    }
    if issubclass(cls, e.LLMRateLimitError):
        return cls(message, retry_after=retry_after_seconds(headers), **kwargs)
    return cls(message, **kwargs)


def map_openai_error(
    status: int | None,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    provider: str = "openai",
) -> e.LLMError:
    """OpenAI and OpenAI-compatible servers (Groq, OpenRouter, ...): HTTP errors and stream errors."""
    err = _error_object(body)
    code = err.get("code")
    code = str(code) if code is not None else None
    etype = err.get("type")
    message = str(err.get("message") or f"{provider} error")
    if status is None and isinstance(err.get("status_code"), int):  # Groq's mid-stream error
        status = err["status_code"]
    if status is None and code is not None and code.isdigit():  # OpenRouter puts the status in code
        status = int(code)
    cls = _OPENAI_CODES.get(code or "") or _OPENAI_CODES.get(str(etype or ""))
    if cls is e.LLMBadRequestError and status is not None and status in _BY_STATUS and status != 400:
        cls = None  # a generic "invalid_request_error" type: the status says more
    if cls is None:
        cls = _BY_STATUS.get(status or 0) or (e.LLMServerError if (status or 0) >= 500 else e.LLMError)
    if cls is e.LLMError and status is None:
        cls = e.LLMServerError  # an error event with nothing else said: the provider failed mid-stream
    return _build(
        cls, message, provider=provider, status=status, request_id=request_id, code=code, body=body, headers=headers
    )


def map_anthropic_error(
    status: int | None,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    provider: str = "anthropic",
) -> e.LLMError:
    """Anthropic Messages (and compatible endpoints): HTTP errors and ``event: error``."""
    err = _error_object(body)
    etype = str(err.get("type") or "")
    message = str(err.get("message") or f"{provider} error")
    if request_id is None and isinstance(body, Mapping) and isinstance(body.get("request_id"), str):
        request_id = body["request_id"]
    cls = _ANTHROPIC_TYPES.get(etype)
    if cls is None:
        cls = _BY_STATUS.get(status or 0) or (e.LLMServerError if (status or 0) >= 500 else e.LLMError)
    if cls is e.LLMError and status is None:
        cls = e.LLMServerError
    if status == 413:
        cls = e.LLMContextWindowExceededError
    return _build(
        cls, message, provider=provider, status=status, request_id=request_id, code=etype or None, body=body, headers=headers
    )
