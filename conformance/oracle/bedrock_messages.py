"""The oracle's reader of Anthropic Messages on Amazon Bedrock: AWS event-stream frames, each
``chunk`` event carrying one Anthropic event as base64 in its JSON payload's ``bytes``.

Frames are cut and checked by botocore's ``EventStreamBuffer`` itself (lengths, prelude and
message CRC32), not by the reference's framing; a frame it refuses, or a body that ends inside a
frame, is a ``MalformedStreamError``. The Anthropic events are read by the Anthropic reader
(``anthropic_messages.MessagesReader``). What Bedrock adds:

- ``message_stop`` carries ``amazon-bedrock-invocationMetrics`` (``inputTokenCount``,
  ``outputTokenCount``, ``cacheReadInputTokenCount``, ``cacheWriteInputTokenCount``, latencies):
  a token counter the Anthropic events do not report is taken from them (the events' own count
  stands where both report it); the latencies are Bedrock's view and no part of the outcome.
- ``:message-type: exception`` frames are errors by their ``:exception-type``; an ``error`` frame
  (``:error-code``) is a server error; an event of another ``:event-type`` carries nothing.
- HTTP errors name their exception in ``x-amzn-ErrorType`` (``ValidationException:http://...``),
  with a JSON ``{"message": ...}``; a type the table lacks falls back on the status.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from botocore.eventstream import EventStreamBuffer, ParserError

from .anthropic_messages import MessagesReader
from .base import Expected, Reader, StreamError, error_class_for

# an exception's name (HTTP ``x-amzn-ErrorType`` or in-stream ``:exception-type``, lower-cased)
# -> error class name of streamproof.adapters.errors (Bedrock's API reference)
_EXCEPTIONS = {
    "validationexception": "LLMBadRequestError",
    "accessdeniedexception": "LLMPermissionDeniedError",
    "resourcenotfoundexception": "LLMNotFoundError",
    "modeltimeoutexception": "LLMTimeoutError",
    "modelerrorexception": "LLMServerError",
    "throttlingexception": "LLMRateLimitError",
    "serviceunavailableexception": "LLMProviderOverloadedError",
    "internalserverexception": "LLMServerError",
    "modelstreamerrorexception": "LLMServerError",
    # the AWS signing layer in front of the service: a bad key or signature
    "unrecognizedclientexception": "LLMAuthenticationError",
    "invalidsignatureexception": "LLMAuthenticationError",
    "expiredtokenexception": "LLMAuthenticationError",
}
_TOO_LONG = ("input is too long", "too many input tokens", "prompt is too long", "context window")
_METRICS = "amazon-bedrock-invocationMetrics"
_COUNTERS = {  # invocation metric -> the Anthropic usage counter it counts
    "inputTokenCount": "input_tokens",
    "outputTokenCount": "output_tokens",
    "cacheReadInputTokenCount": "cache_read_input_tokens",
    "cacheWriteInputTokenCount": "cache_creation_input_tokens",
}


def _exception_class(name: str, message: str) -> str | None:
    found = _EXCEPTIONS.get(name.lower())
    if found == "LLMBadRequestError" and any(words in message.lower() for words in _TOO_LONG):
        return "LLMContextWindowExceededError"
    return found


class BedrockMessagesReader(Reader):
    def __init__(self) -> None:
        self.messages = MessagesReader()

    def read_body(self, body: bytes) -> Expected:
        frames = EventStreamBuffer()
        frames.add_data(body)
        read = 0
        try:
            for frame in frames:
                read += frame.prelude.total_length
                self.frame(frame.headers, frame.payload)
        except ParserError:
            raise StreamError("MalformedStreamError") from None
        if read != len(body):  # the body ends inside a frame
            raise StreamError("MalformedStreamError")
        return self.messages.finish()

    def frame(self, headers: Mapping[str, Any], payload: bytes) -> None:
        kind = headers.get(":message-type")
        if kind == "exception":
            raise StreamError(self.exception(str(headers.get(":exception-type") or ""), payload))
        if kind == "error":
            raise StreamError("LLMServerError")
        if kind != "event":
            raise StreamError("MalformedStreamError")
        if headers.get(":event-type") != "chunk":
            return  # another event type: nothing of Anthropic's in it
        event = self.chunk_event(payload)
        metrics = event.get(_METRICS) if isinstance(event, dict) else None
        self.messages.event(event)
        if isinstance(metrics, dict):
            for metric, counter in _COUNTERS.items():
                if self.messages.usage.get(counter) is None and isinstance(metrics.get(metric), int):
                    self.messages.usage[counter] = metrics[metric]

    @staticmethod
    def chunk_event(payload: bytes) -> Any:
        """The Anthropic event of a chunk: its payload's base64 ``bytes``, decoded, as JSON."""
        try:
            chunk = json.loads(payload)
        except ValueError:  # not JSON (or not UTF-8)
            raise StreamError("MalformedStreamError") from None
        encoded = chunk.get("bytes") if isinstance(chunk, dict) else None
        if not isinstance(encoded, str):
            raise StreamError("MalformedStreamError")
        try:
            event = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
        except ValueError:  # not base64 (binascii.Error), not UTF-8, not a JSON event
            raise StreamError("MalformedStreamError") from None
        if not isinstance(event, dict):
            raise StreamError("MalformedStreamError")
        return event

    @staticmethod
    def exception(name: str, payload: bytes) -> str:
        try:
            body = json.loads(payload) if payload else {}
        except ValueError:
            body = {}
        message = str(body.get("message") or "") if isinstance(body, dict) else ""
        return _exception_class(name, message) or "LLMServerError"  # Bedrock failed mid-stream

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> str:
        named = next((value for key, value in headers.items() if key.lower() == "x-amzn-errortype"), "")
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = {}
        message = (
            str(parsed.get("message") or parsed.get("Message") or "") if isinstance(parsed, dict) else ""
        )
        found = _exception_class(named.split(":", 1)[0].strip(), message) if named else None
        return found or error_class_for(status, {"message": message})
