"""What every reader of the oracle shares: the expected outcome, the error rules, SSE splitting.

The oracle is the suite's yardstick, so it is deliberately written apart from the reference
adapter: it imports nothing from ``streamproof.adapters`` (its formats, providers or framing),
splits SSE with a regular expression, parses with the standard library's ``json`` and walks plain
dicts. When the reference adapter and the oracle disagree, one of them is wrong, and the
disagreement shows up as a failed check.

The expected outcome (``Expected``) has the fields every adapter must agree on: text, reasoning
text and signatures, client tool calls (id, name, arguments exactly as streamed; a Responses
client-executed ``tool_search_call`` is one too, named ``tool_search``), usage (``None`` =
not reported), the normalized and the provider's own stop reason, and the error class for
responses that fail (an HTTP error status or an error inside the stream).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

USAGE_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

_EVENT_SPLIT = re.compile(r"\r\n\r\n|\n\n|\r\r")
_LINE_SPLIT = re.compile(r"\r\n|\n|\r")

# HTTP status -> error class name of streamproof.adapters.errors
_STATUS_ERRORS = {
    400: "LLMBadRequestError",
    401: "LLMAuthenticationError",
    402: "LLMInsufficientCreditsError",
    403: "LLMPermissionDeniedError",
    404: "LLMNotFoundError",
    408: "LLMTimeoutError",
    413: "LLMContextWindowExceededError",
    422: "LLMUnprocessableEntityError",
    429: "LLMRateLimitError",
    500: "LLMServerError",
    502: "LLMServerError",
    503: "LLMProviderOverloadedError",
    504: "LLMTimeoutError",
    529: "LLMProviderOverloadedError",
}
# words in an error body that name the failure more precisely than the status does
_ERROR_WORDS = {
    "insufficient_quota": "LLMInsufficientCreditsError",
    "billing_error": "LLMInsufficientCreditsError",
    "context_length_exceeded": "LLMContextWindowExceededError",
    "overloaded_error": "LLMProviderOverloadedError",
    "rate_limit_error": "LLMRateLimitError",
    "rate_limit_exceeded": "LLMRateLimitError",
    "authentication_error": "LLMAuthenticationError",
    "invalid_api_key": "LLMAuthenticationError",
    "permission_error": "LLMPermissionDeniedError",
    "not_found_error": "LLMNotFoundError",
    "model_not_found": "LLMNotFoundError",
    "api_error": "LLMServerError",
    "server_error": "LLMServerError",
}
_CONTEXT_WORDS = ("prompt is too long", "context length", "context window", "maximum context length")


@dataclass
class Expected:
    """What a correct adapter must report for one interaction (the oracle's answer)."""

    text: str = ""
    reasoning: str = ""
    signatures: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    usage: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS))
    stop_reason: str | None = None
    provider_stop_reason: str | None = None
    error: str | None = None  # error class name, when the call must fail
    # another copy of a signature -> the signature it stands for (Responses: ``response.completed``
    # re-encrypts each reasoning item, so its copy differs from the item's own done event)
    equivalent_signatures: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Field by field, in a fixed order; an error outcome compares only the error."""
        if self.error is not None:
            return {"error": self.error}
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "signatures": self.signatures,
            "tool_calls": self.tool_calls,
            "usage": self.usage,
            "stop_reason": self.stop_reason,
            "provider_stop_reason": self.provider_stop_reason,
            "error": None,
        }


class StreamError(Exception):
    """The recorded stream carries an error (or is cut): the oracle's answer is that error class."""

    def __init__(self, error_class: str) -> None:
        super().__init__(error_class)
        self.error_class = error_class


def error_class_for(status: int | None, body: Any) -> str:
    """The error class name a provider error (HTTP status and/or error body) must map to."""
    error = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    words = [str(error.get(key) or "") for key in ("code", "type")]
    message = str(error.get("message") or "").lower()
    if status is None and isinstance(error.get("status_code"), int):
        status = error["status_code"]
    for word in words:
        if word in _ERROR_WORDS:
            return _ERROR_WORDS[word]
    if status is None and words[0].isdigit():
        status = int(words[0])
    if (
        status == 400
        or (status is None and words[1] == "invalid_request_error")
        or words[0] == "tool_use_failed"
    ):
        return (
            "LLMContextWindowExceededError"
            if any(w in message for w in _CONTEXT_WORDS)
            else "LLMBadRequestError"
        )
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    return "LLMServerError" if status is None or status >= 500 else "LLMError"


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event; comments and empty events dropped. A body that is not
    UTF-8 is malformed (the event-stream format is UTF-8; decoding with replacement characters
    would judge text the provider never sent)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StreamError("MalformedStreamError") from None
    events: list[tuple[str | None, str]] = []
    blocks = _EVENT_SPLIT.split(text)
    for number, block in enumerate(blocks):
        name: str | None = None
        data: list[str] = []
        for line in _LINE_SPLIT.split(block):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        if data:
            if number == len(blocks) - 1 and not _ends_event(text):
                raise StreamError("LLMIncompleteStreamError")  # the body stops inside its last event
            events.append((name, "\n".join(data)))
    return events


def _ends_event(text: str) -> bool:
    return text.endswith(("\n\n", "\r\n\r\n", "\r\r"))


def json_data(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise StreamError("MalformedStreamError") from None


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sum_present(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class Reader:
    """One wire format's reading of a successful response body (``read_body``) and of an HTTP
    error (``http_error``); a fresh reader per response. A body that fails raises ``StreamError``."""

    def read_body(self, body: bytes) -> Expected:
        raise NotImplementedError

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> str:
        """The error class of an HTTP error response: its JSON body's words, else its status."""
        try:
            error_body: Any = json.loads(body)
        except ValueError:
            error_body = {}
        return error_class_for(status, error_body)


class SSEReader(Reader):
    """A format framed as server-sent events: ``read`` gets the (event name, data) pairs."""

    def read_body(self, body: bytes) -> Expected:
        return self.read(sse_events(body))

    def read(self, events: list[tuple[str | None, str]]) -> Expected:
        raise NotImplementedError
