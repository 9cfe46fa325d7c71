"""The error table: every way an LLM call fails -> one ``LLMError`` class, for both providers, streamed
and not, through the real SDKs. Each failed call writes exactly one error trace (class, message,
latency). Bodies here are written by hand in the documented shapes of each provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import pytest
from loopback import LoopbackServer

from streamproof.adapters import errors as e
from streamproof.adapters.adapter import LLMAdapter, LLMRequestAdapter, LLMStreamAdapter
from streamproof.adapters.clients import ProviderClient
from streamproof.adapters.error_mapping import map_sdk_exception
from streamproof.adapters.formats.anthropic_messages import AnthropicClient
from streamproof.adapters.formats.openai_chat import OpenAIClient
from streamproof.adapters.llm_config import LLMConfig
from streamproof.adapters.traces import ProviderTrace, TraceWriter
from streamproof.adapters.traces.sinks.memory import MemorySink
from streamproof.harness.served import ServedChunk, ServedResponse

Handler = Callable[[httpx2.Request], httpx2.Response]
REQUEST_ID_HEADER = {"openai": "x-request-id", "anthropic": "request-id"}
REQUESTS = {
    "openai": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    "anthropic": {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
}
SSE = {"content-type": "text/event-stream"}

CHAT_START = b'data: {"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
CHAT_END = (
    b'data: {"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"c1","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)
MESSAGES_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n'
)
MESSAGES_END = (
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
STREAM_START = {"openai": CHAT_START, "anthropic": MESSAGES_START}
STREAM_END = {"openai": CHAT_END, "anthropic": MESSAGES_END}
JSON_OK = {
    "openai": {
        "id": "c1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    },
    "anthropic": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    },
}


@dataclass(frozen=True)
class Row:
    name: str
    provider: str
    respond: Callable[[str], Handler]  # request id -> handler
    expected: type[e.LLMError]
    modes: tuple[str, ...] = ("streamed", "not streamed")
    status: int | None = None
    checks: dict[str, Any] = field(default_factory=dict)  # other attributes of the error
    answered: bool = True  # a response (with a request id header) arrived before the failure

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.name}"


def status(code: int, body: dict[str, Any], **headers: str) -> Callable[[str], Handler]:
    def respond(request_id: str) -> Handler:
        def handler(request: httpx2.Request) -> httpx2.Response:
            names = {**headers, "x-request-id": request_id, "request-id": request_id}
            return httpx2.Response(
                code, json=body, headers={k.replace("_", "-"): v for k, v in names.items()}
            )

        return handler

    return respond


def raising(make: Callable[[httpx2.Request], Exception]) -> Callable[[str], Handler]:
    def respond(request_id: str) -> Handler:
        def handler(request: httpx2.Request) -> httpx2.Response:
            raise make(request)

        return handler

    return respond


def body(streamed: bytes, not_streamed: bytes, *, then: Exception | None = None) -> Callable[[str], Handler]:
    """200 with this body (SSE when the request streams); ``then`` is raised once the bytes are out."""

    def respond(request_id: str) -> Handler:
        def handler(request: httpx2.Request) -> httpx2.Response:
            is_stream = b'"stream":true' in request.content
            data = streamed if is_stream else not_streamed

            async def content() -> AsyncIterator[bytes]:
                yield data
                if then is not None:
                    raise then

            headers = {
                **(SSE if is_stream else {"content-type": "application/json"}),
                "x-request-id": request_id,
            }
            headers["request-id"] = request_id
            return httpx2.Response(200, headers=headers, content=content())

        return handler

    return respond


def _rows() -> list[Row]:
    oa, an = "openai", "anthropic"
    return [
        # HTTP status + error body
        Row("400", oa, status(400, {"error": {"message": "Invalid 'temperature'", "type": "invalid_request_error"}}), e.LLMBadRequestError, status=400),
        Row("400-context", oa, status(400, {"error": {"message": "This model's maximum context length is 128000 tokens", "type": "invalid_request_error", "code": "context_length_exceeded"}}), e.LLMContextWindowExceededError, status=400),
        Row("401", oa, status(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}), e.LLMAuthenticationError, status=401),
        Row("403", oa, status(403, {"error": {"message": "Project does not have access", "type": "invalid_request_error"}}), e.LLMPermissionDeniedError, status=403),
        Row("404", oa, status(404, {"error": {"message": "The model `gpt-9` does not exist", "type": "invalid_request_error", "code": "model_not_found"}}), e.LLMNotFoundError, status=404),
        Row("413", oa, status(413, {"error": {"message": "Request too large"}}), e.LLMContextWindowExceededError, status=413),
        Row("422", oa, status(422, {"error": {"message": "Unprocessable"}}), e.LLMUnprocessableEntityError, status=422),
        Row("429-rate-limit", oa, status(429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}, retry_after="7"), e.LLMRateLimitError, status=429, checks={"retry_after": 7.0, "retryable": True}),
        Row("429-insufficient-quota", oa, status(429, {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}), e.LLMInsufficientCreditsError, status=429, checks={"retryable": False}),
        Row("500", oa, status(500, {"error": {"message": "The server had an error", "type": "server_error"}}), e.LLMServerError, status=500, checks={"retryable": True}),
        Row("503", oa, status(503, {"error": {"message": "Service unavailable"}}), e.LLMProviderOverloadedError, status=503),
        Row("400", an, status(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: must be positive"}}), e.LLMBadRequestError, status=400),
        Row("400-prompt-too-long", an, status(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}}), e.LLMContextWindowExceededError, status=400),
        Row("401", an, status(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}), e.LLMAuthenticationError, status=401),
        Row("402", an, status(402, {"type": "error", "error": {"type": "billing_error", "message": "credit balance too low"}}), e.LLMInsufficientCreditsError, status=402, checks={"retryable": False}),
        Row("403", an, status(403, {"type": "error", "error": {"type": "permission_error", "message": "not allowed"}}), e.LLMPermissionDeniedError, status=403),
        Row("404", an, status(404, {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-sonet"}}), e.LLMNotFoundError, status=404),
        Row("413", an, status(413, {"type": "error", "error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}}), e.LLMContextWindowExceededError, status=413),
        Row("429", an, status(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}}, retry_after="12"), e.LLMRateLimitError, status=429, checks={"retry_after": 12.0, "retryable": True}),
        Row("500", an, status(500, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}), e.LLMServerError, status=500),
        Row("529", an, status(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}), e.LLMProviderOverloadedError, status=529, checks={"retryable": True}),
    ] + [
        row
        for p in (oa, an)
        for row in (
            # SDK exceptions before any response
            Row("connect-error", p, raising(lambda r: httpx2.ConnectError("connection refused", request=r)), e.LLMConnectionError, checks={"retryable": True}, answered=False),
            Row("connect-timeout", p, raising(lambda r: httpx2.ConnectTimeout("timed out", request=r)), e.LLMTimeoutError, answered=False),
            Row("read-timeout-before-headers", p, raising(lambda r: httpx2.ReadTimeout("timed out", request=r)), e.LLMTimeoutError, answered=False),
            # the transport fails once the body has started
            Row("connection-dropped-mid-body", p, body(STREAM_START[p], b'{"id": "c1", "cho', then=httpx2.RemoteProtocolError("peer closed connection without sending complete message body")), e.LLMIncompleteStreamError),
            Row("read-timeout-mid-body", p, body(STREAM_START[p], b'{"id": "c1", "cho', then=httpx2.ReadTimeout("timed out")), e.LLMTimeoutError),
            # streams cut before their terminator, and bodies that are not what they claim
            Row("cut-before-terminator", p, body(STREAM_START[p], b""), e.LLMIncompleteStreamError, modes=("streamed",)),
            Row("not-json", p, body(b"", b"<html>502 Bad Gateway</html>"), e.MalformedStreamError, modes=("not streamed",)),
        )
    ] + [
        # mid-stream error events in a 200 stream
        Row("mid-stream-error-event", oa, body(CHAT_START + b'event: error\ndata: {"error":{"message":"Tool call validation failed","type":"invalid_request_error","code":"tool_use_failed","status_code":400}}\n\n', b""), e.LLMBadRequestError, modes=("streamed",), status=400),
        Row("in-chunk-error", oa, body(CHAT_START + b'data: {"id":"c1","error":{"code":429,"message":"Rate limit exceeded upstream"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}\n\ndata: [DONE]\n\n', b""), e.LLMRateLimitError, modes=("streamed",), status=429),
        Row("mid-stream-overloaded", an, body(MESSAGES_START + b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n', b""), e.LLMProviderOverloadedError, modes=("streamed",)),
        Row("mid-stream-api-error", an, body(MESSAGES_START + b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Internal server error"}}\n\n', b""), e.LLMServerError, modes=("streamed",)),
    ]  # fmt: skip


ROWS = [(row, mode) for row in _rows() for mode in row.modes]


def _client(
    provider: str, *, transport: httpx2.AsyncBaseTransport | None = None, **options: Any
) -> ProviderClient:
    cls = AnthropicClient if provider == "anthropic" else OpenAIClient
    return cls(api_key="sk-error-table", transport=transport, max_retries=0, **options)


def _adapter(mode: str, client: ProviderClient, provider: str, writer: TraceWriter) -> LLMAdapter:
    cls = LLMStreamAdapter if mode == "streamed" else LLMRequestAdapter
    return cls(
        client, LLMConfig(model="m", provider=provider), "agent_step", agent_id="agent-1", trace_writer=writer
    )


async def _fail(adapter: LLMAdapter, provider: str) -> tuple[e.LLMError, list[object]]:
    events: list[object] = []
    with pytest.raises(e.LLMError) as caught:
        async for event in adapter.invoke_llm(REQUESTS[provider]):
            events.append(event)
    return caught.value, events


def _only_error_trace(sink: MemorySink, error: e.LLMError) -> ProviderTrace:
    assert len(sink.traces) == 1, [t.status for t in sink.traces]
    (trace,) = sink.traces
    assert trace.status == "error"
    assert trace.error_type == type(error).__name__
    assert trace.error_message == str(error) and trace.error_message
    assert trace.latency_ms is not None and trace.latency_ms > 0
    assert trace.agent_id == "agent-1" and trace.call_type == "agent_step"
    return trace


@pytest.mark.parametrize(
    ("row", "mode"), ROWS, ids=[f"{row.id}-{mode.replace(' ', '-')}" for row, mode in ROWS]
)
async def test_error_row(row: Row, mode: str) -> None:
    request_id = f"req_{row.id}"
    client = _client(row.provider, transport=httpx2.MockTransport(row.respond(request_id)))
    sink = MemorySink()
    writer = TraceWriter(sink)
    try:
        error, events = await _fail(_adapter(mode, client, row.provider, writer), row.provider)
    finally:
        await client.aclose()
        await writer.aclose()

    assert type(error) is row.expected, f"{type(error).__name__}: {error}"
    assert error.provider == row.provider
    assert error.message  # says what went wrong
    if row.status is not None:
        assert error.status == row.status
    if row.answered:
        assert error.request_id == request_id  # from the response headers, kept on the error
    for name, value in row.checks.items():
        assert getattr(error, name) == value, name
    trace = _only_error_trace(sink, error)
    if events:  # the consumer got part of the stream before it failed: the trace keeps that part
        assert trace.response_json is not None and trace.response_json["text"] == "Hel"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_real_socket_closed_mid_stream_is_an_incomplete_stream(provider: str) -> None:
    with LoopbackServer() as server:
        root = server.serve(
            ServedResponse(200, tuple(SSE.items()), (ServedChunk(STREAM_START[provider]),), abort=True)
        )
        cls = AnthropicClient if provider == "anthropic" else OpenAIClient
        client = cls(
            api_key="sk-x", base_url=root if provider == "anthropic" else f"{root}/v1", max_retries=0
        )
        sink = MemorySink()
        writer = TraceWriter(sink)
        try:
            error, events = await _fail(_adapter("streamed", client, provider, writer), provider)
        finally:
            await client.aclose()
            await writer.aclose()
    assert type(error) is e.LLMIncompleteStreamError and error.retryable
    assert events  # the first event arrived before the connection broke
    _only_error_trace(sink, error)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_real_socket_stalled_stream_times_out(provider: str) -> None:
    stalled = ServedResponse(
        200,
        tuple(SSE.items()),
        (ServedChunk(STREAM_START[provider]), ServedChunk(STREAM_END[provider], at=5.0)),
    )
    with LoopbackServer() as server:
        root = server.serve(stalled)
        cls = AnthropicClient if provider == "anthropic" else OpenAIClient
        client = cls(
            api_key="sk-x",
            base_url=root if provider == "anthropic" else f"{root}/v1",
            max_retries=0,
            timeout=0.3,
        )
        sink = MemorySink()
        writer = TraceWriter(sink)
        try:
            error, events = await _fail(_adapter("streamed", client, provider, writer), provider)
        finally:
            await client.aclose()
            await writer.aclose()
    assert type(error) is e.LLMTimeoutError and "while streaming" in error.message
    assert events
    trace = _only_error_trace(sink, error)
    assert trace.latency_ms is not None and trace.latency_ms >= 300


async def test_nothing_listening_is_a_connection_error() -> None:
    with LoopbackServer() as server:  # a port that was just free and is closed again
        root = server.serve(ServedResponse(200, (), ()))
    client = OpenAIClient(api_key="sk-x", base_url=f"{root}/v1", max_retries=0)
    sink = MemorySink()
    writer = TraceWriter(sink)
    try:
        error, _ = await _fail(_adapter("streamed", client, "openai", writer), "openai")
    finally:
        await client.aclose()
        await writer.aclose()
    assert type(error) is e.LLMConnectionError and "connection failed" in error.message
    _only_error_trace(sink, error)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_sdk_retries_stay_inside_one_call_and_one_trace(provider: str) -> None:
    attempts: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        attempts.append(1)
        if len(attempts) == 1:
            return httpx2.Response(503, json={"error": {"message": "busy"}}, headers={"retry-after-ms": "5"})
        return httpx2.Response(200, headers=SSE, content=STREAM_START[provider] + STREAM_END[provider])

    cls = AnthropicClient if provider == "anthropic" else OpenAIClient
    client = cls(api_key="sk-x", transport=httpx2.MockTransport(handler), max_retries=2)
    sink = MemorySink()
    writer = TraceWriter(sink)
    adapter = _adapter("streamed", client, provider, writer)
    try:
        result = await adapter.complete(REQUESTS[provider])
    finally:
        await client.aclose()
        await writer.aclose()
    assert len(attempts) == 2 and result.text == "Hel"
    assert [t.status for t in sink.traces] == ["success"]


async def test_unknown_provider_is_named() -> None:
    client = _client("openai", transport=httpx2.MockTransport(lambda r: httpx2.Response(500)))
    adapter = LLMStreamAdapter(client, LLMConfig(model="m", provider="gemini-native"), "agent_step")
    try:
        with pytest.raises(e.AdapterConfigError, match="unknown provider 'gemini-native'"):
            await adapter.complete(REQUESTS["openai"])
    finally:
        await client.aclose()


def test_every_row_has_a_distinct_name_per_provider() -> None:
    ids = [row.id for row in _rows()]
    assert len(ids) == len(set(ids))
    assert {row.expected for row in _rows()} >= {
        e.LLMConnectionError,
        e.LLMTimeoutError,
        e.LLMRateLimitError,
        e.LLMInsufficientCreditsError,
        e.LLMBadRequestError,
        e.LLMContextWindowExceededError,
        e.LLMAuthenticationError,
        e.LLMPermissionDeniedError,
        e.LLMNotFoundError,
        e.LLMUnprocessableEntityError,
        e.LLMServerError,
        e.LLMProviderOverloadedError,
        e.LLMIncompleteStreamError,
        e.MalformedStreamError,
    }


@pytest.mark.parametrize(
    ("exc", "mid_stream", "expected"),
    [
        (httpx2.ReadTimeout("timed out"), False, e.LLMTimeoutError),
        (httpx2.RemoteProtocolError("peer closed"), True, e.LLMIncompleteStreamError),
        (httpx2.RemoteProtocolError("peer closed"), False, e.LLMConnectionError),
        (httpx2.DecodingError("bad gzip"), True, e.MalformedStreamError),
        (ConnectionResetError("reset by peer"), True, e.LLMIncompleteStreamError),
        # the OpenAI SDK also runs on a legacy httpx client
        (httpx.ReadTimeout("timed out"), True, e.LLMTimeoutError),
        (httpx.RemoteProtocolError("peer closed"), True, e.LLMIncompleteStreamError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transport_exceptions_map_by_kind_and_by_whether_the_body_had_started(
    exc: Exception, mid_stream: bool, expected: type[e.LLMError]
) -> None:
    mapped = map_sdk_exception(exc, "groq", mid_stream=mid_stream)
    assert type(mapped) is expected and mapped.provider == "groq"
    assert type(exc).__name__ in mapped.message  # says what the transport reported


def test_our_errors_pass_through_and_bugs_are_not_mapped() -> None:
    ours = e.LLMServerError("boom", provider="openai")
    assert map_sdk_exception(ours, "openai") is ours
    assert map_sdk_exception(KeyError("choices"), "openai") is None
