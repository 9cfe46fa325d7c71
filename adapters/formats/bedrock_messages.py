"""Anthropic Messages on Amazon Bedrock: Anthropic's events, one per AWS event-stream frame.

``POST /model/<model id>/invoke-with-response-stream`` answers ``application/vnd.amazon.eventstream``
(``framing/eventstream.py``); ``/model/<model id>/invoke`` answers the message JSON, read exactly
as Anthropic's. Each ``:event-type: chunk`` frame's JSON payload is ``{"bytes": "<base64>"}``, and
the bytes are one Anthropic Messages event: the same event logic reads them
(``AnthropicMessagesInterface``), so everything REAL-STREAMS.md says of Anthropic streams holds.
What real Bedrock varies (REAL-STREAMS.md §4.4), and how it is read here:

- A chunk payload may carry more than ``bytes`` (Bedrock pads some with a ``p`` field of random
  length): other fields are ignored. Frame headers beyond ``:message-type`` / ``:event-type``
  (``:content-type``) are ignored too, as are events of another ``:event-type``.
- The last event (``message_stop``) also carries ``amazon-bedrock-invocationMetrics``:
  ``inputTokenCount``, ``outputTokenCount`` (and, with prompt caching, ``cacheReadInputTokenCount``
  / ``cacheWriteInputTokenCount``), ``invocationLatency``, ``firstByteLatency`` (ms). They are kept
  as ``interface.invocation_metrics``. Usage means what it means for Anthropic (``events.Usage``:
  what is billed): the Anthropic events' own usage, which Bedrock passes on; a counter the events
  do not report is taken from the metrics (they count the same tokens); where both report one,
  the events' value stands and the metrics stay on ``invocation_metrics`` for a caller to compare.
  The latencies are Bedrock's own view of the call and no part of ``LLMResult`` (its ``ttft_ms``
  / ``latency_ms`` are measured on our side of the wire, as for every format). ``/invoke`` sends
  its metrics as ``X-Amzn-Bedrock-*`` headers, not read: its usage is the body's, as Anthropic's.
- Errors mid-stream are frames of ``:message-type: exception``, ``:exception-type``
  ``throttlingException`` (rate limit), ``modelStreamErrorException`` / ``internalServerException``
  (server error), ``serviceUnavailableException`` (overloaded), ``validationException`` (bad
  request, or context window exceeded when the message says so), ``modelTimeoutException``
  (timeout), payload ``{"message": ...}``; an ``error`` frame (``:error-code``) is a server error.
  HTTP errors are JSON ``{"message": ...}`` with the ``x-amzn-ErrorType`` header
  (``ValidationException:http://internal.amazon.com/...``: the part before the colon is the name).
- The request id is the ``x-amzn-requestid`` header.
- A chunk whose payload is not JSON, has no string ``bytes``, is not base64, or is not UTF-8 is
  a ``MalformedStreamError``; so is a bad frame (``framing/eventstream.py``).
"""

from __future__ import annotations

import binascii
import sys
from base64 import b64decode
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

import orjson

from .. import errors as e
from ..clients import ProviderClient, as_keywords, sdk_options
from ..error_mapping import build_error, class_by_status, error_object
from ..errors import AdapterConfigError, MalformedStreamError
from ..events import USAGE_COUNT_LIMIT
from ..framing import FrameDecoder, framing_named
from ..framing.eventstream import EventStreamFrame
from ..framing.sse import SSEEvent
from .anthropic_messages import AnthropicMessagesInterface

if TYPE_CHECKING:
    import httpx2

METRICS_FIELD = "amazon-bedrock-invocationMetrics"
ANTHROPIC_VERSION = "bedrock-2023-05-31"  # the request body's ``anthropic_version`` on Bedrock

# exception / error type names (HTTP ``x-amzn-ErrorType`` and in-stream ``:exception-type``, which
# differ only in the case of the first letter) -> class
_BEDROCK_TYPES: dict[str, type[e.LLMError]] = {
    "validationexception": e.LLMBadRequestError,
    "accessdeniedexception": e.LLMPermissionDeniedError,
    "resourcenotfoundexception": e.LLMNotFoundError,
    "modeltimeoutexception": e.LLMTimeoutError,
    "modelerrorexception": e.LLMServerError,
    "throttlingexception": e.LLMRateLimitError,
    "serviceunavailableexception": e.LLMProviderOverloadedError,
    "internalserverexception": e.LLMServerError,
    "modelstreamerrorexception": e.LLMServerError,
    # AWS's own authentication layer, in front of every service
    "unrecognizedclientexception": e.LLMAuthenticationError,
    "invalidsignatureexception": e.LLMAuthenticationError,
    "expiredtokenexception": e.LLMAuthenticationError,
}

_CONTEXT_PHRASES = ("input is too long", "too many input tokens")  # Bedrock's words, beyond the shared ones


def map_bedrock_error(
    status: int | None,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    provider: str = "bedrock",
    error_type: str | None = None,
) -> e.LLMError:
    """Bedrock HTTP errors (``x-amzn-ErrorType`` + JSON ``message``) and in-stream exception frames
    (``error_type`` from ``:exception-type``, status None)."""
    lower = {k.lower(): v for k, v in headers.items()} if headers else {}
    if error_type is None:
        error_type = _error_type(lower.get("x-amzn-errortype"), body)
    if request_id is None:
        request_id = lower.get("x-amzn-requestid")
    err = error_object(body)
    message = err.get("message") or err.get("Message")
    message = str(message) if message is not None else f"{provider} {error_type or 'error'}"
    # an exception frame of a type not in the table: Bedrock failed mid-stream
    cls = class_by_status(_BEDROCK_TYPES.get((error_type or "").lower()), status)
    if cls is e.LLMBadRequestError and any(p in message.lower() for p in _CONTEXT_PHRASES):
        cls = e.LLMContextWindowExceededError
    return build_error(
        cls,
        message,
        provider=provider,
        status=status,
        request_id=request_id,
        code=error_type,
        body=body,
        headers=headers,
    )


def _error_type(header: str | None, body: Any) -> str | None:
    """``ValidationException`` from ``ValidationException:http://...``, or a JSON body's ``__type``
    (``com.amazon.coral.validate#ValidationException``)."""
    if header:
        return header.split(":", 1)[0].strip() or None
    if isinstance(body, Mapping) and isinstance(body.get("__type"), str):
        return str(body["__type"]).rsplit("#", 1)[-1] or None
    return None


@dataclass(frozen=True)
class InvocationMetrics:
    """``amazon-bedrock-invocationMetrics``, as the last event carries it (None: not reported)."""

    input_token_count: int | None = None
    output_token_count: int | None = None
    cache_read_input_token_count: int | None = None
    cache_write_input_token_count: int | None = None
    invocation_latency_ms: int | None = None
    first_byte_latency_ms: int | None = None


_METRICS = {
    "inputTokenCount": "input_token_count",
    "outputTokenCount": "output_token_count",
    "cacheReadInputTokenCount": "cache_read_input_token_count",
    "cacheWriteInputTokenCount": "cache_write_input_token_count",
    "invocationLatency": "invocation_latency_ms",
    "firstByteLatency": "first_byte_latency_ms",
}
# the Anthropic usage counter each token metric stands in for
_USAGE_FOR_METRIC = {
    "input_token_count": "input_tokens",
    "output_token_count": "output_tokens",
    "cache_read_input_token_count": "cache_read_input_tokens",
    "cache_write_input_token_count": "cache_creation_input_tokens",
}


# Base64 with nothing but its alphabet and padding (``binascii.Error`` otherwise), called with
# ``strict_mode=True``: it checks in C what ``b64decode(validate=True)`` checks with a regex.
if sys.version_info >= (3, 11):
    _a2b_base64 = binascii.a2b_base64
else:  # strict_mode came in 3.11

    def _a2b_base64(encoded: str, *, strict_mode: bool) -> bytes:
        return b64decode(encoded, validate=strict_mode)


class _ChunkEvents:
    """Frames in, Anthropic events out: each chunk's ``bytes`` as the ``(event, data, id)`` that
    Anthropic's event logic reads. An exception frame becomes the mapped ``LLMError``, raised (like a
    framing error) by the call after the one that returned the events before it."""

    __slots__ = ("_chunk_headers", "_failure", "_frames", "_provider")

    def __init__(self, frames: FrameDecoder, provider: str) -> None:
        self._frames = frames
        self._provider = provider
        self._failure: e.LLMError | None = None
        self._chunk_headers: dict[str, Any] | None = None  # the headers of the last chunk frame

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._failure is not None:
            raise self._failure
        return self._events(self._frames.feed(chunk))

    def close(self) -> list[SSEEvent]:
        if self._failure is not None:
            raise self._failure
        return self._events(self._frames.close())

    def _events(self, frames: list[EventStreamFrame]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        chunk_headers = self._chunk_headers
        try:
            for headers, payload in frames:
                if headers is not chunk_headers:  # the decoder shares one dict per header block
                    if headers[":message-type"] != "event":
                        raise self._exception(EventStreamFrame(headers, payload))
                    if headers.get(":event-type") != "chunk":
                        continue  # another event type: nothing of Anthropic's in it
                    chunk_headers = self._chunk_headers = headers
                # The chunk's event, decoded inline (Bedrock sends a frame per token; a call per
                # frame was measured). JSON, base64 and UTF-8 errors are ValueErrors; a payload of
                # another shape fails on ["bytes"] or in a2b_base64.
                try:
                    event = _a2b_base64(orjson.loads(payload)["bytes"], strict_mode=True).decode()
                except (ValueError, TypeError, KeyError):
                    problem = self._bad_chunk(payload)  # names what was wrong
                    if problem is None:  # the chunk reads: the error was ours, not the stream's
                        raise
                    raise problem from None
                events.append((None, event, None))
        except e.LLMError as exc:
            self._failure = exc
            if not events:
                raise
        return events

    def _bad_chunk(self, payload: bytes) -> MalformedStreamError | None:
        """What is wrong with a chunk whose event ``_events`` could not read (None: nothing)."""
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return self._malformed(f"a chunk's payload is not JSON ({exc}): {payload[:60]!r}")
        encoded = chunk.get("bytes") if isinstance(chunk, dict) else None
        if not isinstance(encoded, str):
            return self._malformed(f"a chunk's payload has no base64 string 'bytes': {payload[:60]!r}")
        if not encoded.isascii():  # binascii refuses it with a bare ValueError, not binascii.Error
            return self._malformed(
                f"a chunk's 'bytes' is not base64 (a non-ASCII character): {encoded[:40]!r}"
            )
        try:
            _a2b_base64(encoded, strict_mode=True).decode("utf-8")
        except binascii.Error as exc:
            return self._malformed(f"a chunk's 'bytes' is not base64 ({exc}): {encoded[:40]!r}")
        except UnicodeDecodeError as exc:
            return self._malformed(f"a chunk's event is not UTF-8 (byte {exc.start})")
        return None

    def _exception(self, frame: EventStreamFrame) -> e.LLMError:
        try:
            body = orjson.loads(frame.payload) if frame.payload else {}
        except orjson.JSONDecodeError:
            body = frame.payload.decode("utf-8", "replace")
        if frame.message_type == "error":  # the event-stream protocol's own error frame
            message = frame.headers.get(":error-message")
            error_type = frame.event_type
            body = {"message": message if isinstance(message, str) else f"{error_type} error"}
            return e.LLMServerError(
                f"{body['message']} ({error_type})", provider=self._provider, code=error_type, body=body
            )
        return map_bedrock_error(None, body, provider=self._provider, error_type=frame.event_type)

    def _malformed(self, problem: str) -> MalformedStreamError:
        return MalformedStreamError(f"{self._provider} messages stream: {problem}", provider=self._provider)


_anthropic_on_sse = AnthropicMessagesInterface._on_sse


class BedrockMessagesInterface(AnthropicMessagesInterface):
    provider: ClassVar[str] = "bedrock"
    api: ClassVar[str] = "messages"
    framing: ClassVar[str] = "eventstream"

    def __init__(self, **switches: Any) -> None:
        super().__init__(**switches)
        self.invocation_metrics: InvocationMetrics | None = None

    def _frame_decoder(self) -> FrameDecoder:
        return _ChunkEvents(framing_named(self.framing).decoder(), self.provider)

    def _on_sse(self, sse: SSEEvent, tail: bool = False) -> None:
        _anthropic_on_sse(self, sse, tail)  # super()._on_sse, without building a super object per event
        if METRICS_FIELD in sse[1]:  # only the last event carries them (or a text quoting the name)
            event = orjson.loads(sse[1])  # read once already, so valid JSON: an object
            if METRICS_FIELD in event:
                self._on_metrics(event[METRICS_FIELD])

    def _on_metrics(self, raw: object) -> None:
        if not isinstance(raw, dict):
            raise self._malformed(f"{METRICS_FIELD} {raw!r:.40} is not an object")
        values: dict[str, int | None] = {}
        for wire, field in _METRICS.items():
            value = raw.get(wire)
            if value is not None and (type(value) is not int or not 0 <= value < USAGE_COUNT_LIMIT):
                raise self._malformed(f"{METRICS_FIELD}.{wire} {value!r:.40} is not a non-negative integer")
            values[field] = value
        self.invocation_metrics = InvocationMetrics(**values)
        missing = {
            counter: values[metric]
            for metric, counter in _USAGE_FOR_METRIC.items()
            if values[metric] is not None and self._counters[counter] is None
        }
        if missing:
            self._on_usage(missing)


# -- its client: the anthropic SDK's Bedrock client (botocore signs the request with SigV4) ------------


class BedrockClient(ProviderClient):
    """``anthropic.AsyncAnthropicBedrock``: the SDK turns a Messages call into ``/model/<id>/invoke``
    (``-with-response-stream`` when streamed), adds ``anthropic_version`` and signs it (AWS
    credentials from the arguments, else botocore's usual chain: ``AWS_ACCESS_KEY_ID`` ...); a
    Bedrock API key (``api_key`` / ``AWS_BEARER_TOKEN_BEDROCK``) is sent as a bearer token instead."""

    sdk = "anthropic"
    apis = frozenset({"messages"})
    request_id_headers = ("x-amzn-requestid",)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_retries: int | None = None,  # None: the SDK's default
        timeout: float | httpx2.Timeout | None = None,
        aws_access_key: str | None = None,
        aws_secret_key: str | None = None,
        aws_session_token: str | None = None,
        aws_region: str | None = None,
    ) -> None:
        import anthropic

        super().__init__(http_client, transport)
        options = sdk_options(timeout, max_retries)
        try:
            self.sdk_client = anthropic.AsyncAnthropicBedrock(
                api_key=api_key,
                aws_access_key=aws_access_key,
                aws_secret_key=aws_secret_key,
                aws_session_token=aws_session_token,
                aws_region=aws_region,
                base_url=base_url,
                http_client=self.http_client,
                **options,
            )
        except ValueError as exc:  # no region anywhere; an API key and AWS credentials both given
            raise AdapterConfigError(f"cannot build the bedrock client: {exc}") from exc
        self._create = self.sdk_client.messages.with_streaming_response.create
        self._parameters = self.keyword_names(self._create)

    @asynccontextmanager
    async def _exchange(self, api: str, request_data: Mapping[str, Any]) -> AsyncIterator[httpx2.Response]:
        # Bedrock's Messages body names its own API version; the SDK would put the first-party one
        body = {"anthropic_version": ANTHROPIC_VERSION, **request_data}
        async with self._create(**as_keywords(self._parameters, body)) as response:
            yield response.http_response


# -- its URL rule --------------------------------------------------------------------------------------


def matches_url(host: str, path: str) -> bool:
    """``/model/<model id>/invoke`` or ``/model/<model id>/invoke-with-response-stream`` (the id may be
    URL-encoded, ``%3A`` for ``:``), on any host: ``bedrock-runtime.<region>.amazonaws.com``, or a
    local emulator."""
    parts = path.rstrip("/").split("/")
    return (
        len(parts) == 4
        and parts[0] == ""
        and parts[1] == "model"
        and unquote(parts[2]) != ""
        and parts[3] in ("invoke", "invoke-with-response-stream")
    )
