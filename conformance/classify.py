"""The error classifier adapter authors call instead of re-implementing the oracle's rules.

``classify_error(status, body, provider)`` gives the ``streamproof.adapters.errors`` class that the
battery expects for a provider error: an HTTP error status with its body, or (``status=None``) an
error event or chunk read inside a 200 stream. The rules are the oracle's (``oracle.error_class_for``):
the error's ``code`` / ``type`` words first (``insufficient_quota`` is a credits error even on a
429, ``overloaded_error`` an overload), then the status; a bare error inside a stream is a server
error. ``provider_error`` builds the exception itself, with ``retry_after`` from the headers for a
rate limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..adapters import errors
from ..adapters.error_mapping import retry_after_seconds
from .oracle import error_class_for


def _parsed(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return {"error": {"message": body}}  # a proxy's HTML page, a plain-text error
    return body if body is not None else {}


def classify_error(status: int | None, body: Any, provider: str | None = None) -> type[errors.LLMError]:
    """The error class a provider error must be reported as (``body``: bytes, text or parsed JSON).

    ``provider`` (``openai``, ``anthropic``, a compatible host) is accepted for the adapter's
    convenience; the rules are the same for every provider, since the error words differ."""
    cls: type[errors.LLMError] = getattr(errors, error_class_for(status, _parsed(body)))
    return cls


def provider_error(
    status: int | None,
    body: Any,
    provider: str,
    *,
    headers: Mapping[str, str] | None = None,
    message: str | None = None,
) -> errors.LLMError:
    """The exception to raise for a provider error: the classified class, with status, provider
    and, for a rate limit, ``retry_after`` (seconds) from the ``retry-after`` headers."""
    parsed = _parsed(body)
    cls = classify_error(status, parsed, provider)
    inner = parsed.get("error", parsed) if isinstance(parsed, dict) else {}
    text = message or (
        str(inner.get("message")) if isinstance(inner, dict) and inner.get("message") else None
    )
    text = text or f"{provider} error" + (f" (HTTP {status})" if status else "")
    if issubclass(cls, errors.LLMRateLimitError):
        return cls(
            text, retry_after=retry_after_seconds(headers), provider=provider, status=status, body=parsed
        )
    return cls(text, provider=provider, status=status, body=parsed)
