"""What every format's error table shares, and the mapping of the SDKs' own exceptions.

Each wire format's error table (HTTP status + error body, or a mid-stream error event ->
``LLMError``) lives with its format (``formats/openai_chat.py``'s ``map_openai_error``, ...);
clients' errors reach them through ``map_sdk_exception``, and streaming interfaces call them for
error events that arrive inside a 200 stream. This module holds what they build on: the classes
by HTTP status, the phrases that mark a context-window error, ``retry_after_seconds``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import errors as e

if TYPE_CHECKING:
    from .formats import ErrorTable

BY_STATUS: dict[int, type[e.LLMError]] = {
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


def error_object(body: Any) -> dict[str, Any]:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            return dict(inner)
        if isinstance(inner, str):
            return {"message": inner}
    if isinstance(body, str):
        return {"message": body}
    return {}


def class_by_status(named: type[e.LLMError] | None, status: int | None) -> type[e.LLMError]:
    """``named`` (the class the error's own type or code gave), else the class of its HTTP status;
    an error with neither (an error event inside a 200 stream) means the provider failed mid-stream."""
    cls = named or BY_STATUS.get(status or 0) or (e.LLMServerError if (status or 0) >= 500 else e.LLMError)
    return e.LLMServerError if cls is e.LLMError and status is None else cls


def build_error(
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


# -- exceptions raised by the SDKs and their HTTP stacks ----------------------------------------------


def _error_table(sdk: str, provider: str) -> ErrorTable:
    from .formats import error_table_for  # the formats' modules build on this one

    return error_table_for(sdk, provider)


def _loaded_class(module: str, name: str) -> type[BaseException] | None:
    # An exception cannot come from a module nobody imported, and replaying cassettes must not pay
    # for importing the SDKs, so their classes are looked up only once their module is loaded.
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else None


def _first_instance(exc: BaseException, names: tuple[tuple[str, str], ...]) -> str | None:
    for module, name in names:
        cls = _loaded_class(module, name)
        if cls is not None and isinstance(exc, cls):
            return module
    return None


_HTTP_STACKS = ("httpx2", "httpx")
_TRANSPORT_TIMEOUTS = tuple((stack, "TimeoutException") for stack in _HTTP_STACKS)
_TRANSPORT_DECODING = tuple((stack, "DecodingError") for stack in _HTTP_STACKS)
_TRANSPORT_FAILURES = tuple((stack, "TransportError") for stack in _HTTP_STACKS)


def map_sdk_exception(exc: BaseException, provider: str, *, mid_stream: bool = False) -> e.LLMError | None:
    """An exception from the ``openai`` / ``anthropic`` SDK or from httpx2 / httpx -> ``LLMError``.

    ``mid_stream`` says the response had started: a connection dropped then is a cut stream
    (``LLMIncompleteStreamError``), before it a connection error; a ``json.JSONDecodeError`` then
    is a malformed event (the SDKs let it out of their SSE readers). Every exception class of the
    two SDKs maps: status errors by status and body, ``APIError`` (an error read inside the
    stream) by its body, a response validation error as malformed, any other SDK error as a plain
    ``LLMError``. Our own ``LLMError``s pass through. Returns ``None`` for anything else (a bug,
    not a provider failure: the caller re-raises it).
    """
    if isinstance(exc, e.LLMError):
        return exc
    sdk = _first_instance(exc, (("openai", "APIStatusError"), ("anthropic", "APIStatusError")))
    if sdk is not None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return _error_table(sdk, provider)(
            getattr(exc, "status_code", None),
            getattr(exc, "body", None),
            headers=headers if isinstance(headers, Mapping) else None,
            request_id=getattr(exc, "request_id", None),
            provider=provider,
        )
    if _first_instance(exc, (("openai", "APITimeoutError"), ("anthropic", "APITimeoutError"))):
        return e.LLMTimeoutError(f"{provider} request timed out ({_cause(exc)})", provider=provider)
    if _first_instance(exc, (("openai", "APIConnectionError"), ("anthropic", "APIConnectionError"))):
        return e.LLMConnectionError(f"{provider} connection failed ({_cause(exc)})", provider=provider)
    sdk = _first_instance(
        exc, (("openai", "APIResponseValidationError"), ("anthropic", "APIResponseValidationError"))
    )
    if sdk is not None:
        message = f"{provider} response does not have the shape the {sdk} SDK expects ({_cause(exc)})"
        return e.MalformedStreamError(message, provider=provider)
    sdk = _first_instance(exc, (("openai", "APIError"), ("anthropic", "APIError")))
    if sdk is not None:
        # an error the SDK read inside a 200 stream (OpenAI's {"error": ...} chunk): its body says which
        body = getattr(exc, "body", None)
        return _error_table(sdk, provider)(
            None, body if body is not None else {"error": {"message": str(exc)}}, provider=provider
        )
    if mid_stream and isinstance(exc, json.JSONDecodeError):
        # the SDKs parse each SSE event with json.loads and let its error out as it is
        return e.MalformedStreamError(
            f"{provider} stream event is not valid JSON ({_cause(exc)})", provider=provider
        )
    if _first_instance(exc, _TRANSPORT_TIMEOUTS):
        where = "while streaming the response" if mid_stream else "before the response"
        return e.LLMTimeoutError(f"{provider} timed out {where} ({_cause(exc)})", provider=provider)
    if _first_instance(exc, _TRANSPORT_DECODING):
        message = f"{provider} response body cannot be decoded ({_cause(exc)})"
        return e.MalformedStreamError(message, provider=provider)
    if _first_instance(exc, _TRANSPORT_FAILURES) or isinstance(exc, OSError):
        if mid_stream:
            return e.LLMIncompleteStreamError(
                f"{provider} stream was cut before its end: the connection failed mid-stream ({_cause(exc)})",
                provider=provider,
            )
        return e.LLMConnectionError(f"{provider} connection failed ({_cause(exc)})", provider=provider)
    sdk = _first_instance(exc, (("openai", "OpenAIError"), ("anthropic", "AnthropicError")))
    if sdk is not None:  # the rest the SDKs raise (a finish-reason refusal of a parse helper, ...)
        return e.LLMError(f"{provider}: the {sdk} SDK failed ({_cause(exc)})", provider=provider)
    return None


def _cause(exc: BaseException) -> str:
    """The exception and what caused it, e.g. ``APITimeoutError <- ReadTimeout: timed out``."""
    chain = [exc]
    while len(chain) < 4 and (inner := chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(inner)
    detail = str(chain[-1])
    return " <- ".join(type(link).__name__ for link in chain) + (f": {detail}" if detail else "")
