"""Bedrock's wire format in the adapters layer: Anthropic's events from AWS event-stream chunks, the
invocation metrics, the error tables (HTTP and in-stream), the URL rule, and the real SDK client
(``AsyncAnthropicBedrock``, SigV4-signed with fake credentials) over a real loopback socket."""

from __future__ import annotations

import base64
import json
import random
import re
from typing import Any

import pytest

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
from eventstream_frames import chunk, exception, frame
from loopback import LoopbackServer

from streamproof.adapters import errors as e
from streamproof.adapters.adapter import LLMRequestAdapter, LLMStreamAdapter
from streamproof.adapters.clients import ClientPool
from streamproof.adapters.error_mapping import map_sdk_exception
from streamproof.adapters.events import StreamEvent
from streamproof.adapters.formats import format_for, format_for_request, format_for_url, provider_for_url
from streamproof.adapters.formats.anthropic_messages import AnthropicMessagesInterface
from streamproof.adapters.formats.bedrock_messages import (
    BedrockClient,
    BedrockMessagesInterface,
    InvocationMetrics,
    map_bedrock_error,
)
from streamproof.adapters.llm_config import LLMConfig
from streamproof.harness.served import ServedChunk, ServedResponse

EVENTSTREAM = (("content-type", "application/vnd.amazon.eventstream"), ("x-amzn-requestid", "req-aws-1"))
METRICS = {"inputTokenCount": 12, "outputTokenCount": 7, "invocationLatency": 812, "firstByteLatency": 301}

EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {"id": "msg_bdrk_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
                    "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}},
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Héllo"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " there"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2,
     "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}},
    {"type": "message_stop", "amazon-bedrock-invocationMetrics": METRICS},
]  # fmt: skip
FRAMES = [chunk(event, p="abcdefghij"[: i % 10]) for i, event in enumerate(EVENTS)]
BODY = b"".join(FRAMES)


def sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {ev['type']}\ndata: {json.dumps(ev)}\n\n" for ev in events).encode()


def canonical(events: list[StreamEvent]) -> list[dict[str, Any]]:
    return [event.model_dump(exclude={"message_id", "event_id"}) for event in events]


def run(chunks: list[bytes], **switches: Any) -> tuple[list[StreamEvent], BedrockMessagesInterface]:
    interface = BedrockMessagesInterface(message_id="m", **switches)
    events = [event for piece in chunks for event in interface.feed(piece)]
    return events + interface.finish(), interface


def random_cuts(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(body):
        out.append(body[pos : pos + (step := rng.randint(1, 64))])
        pos += step
    return out


CHUNKINGS = {
    "whole": lambda: [BODY],
    "per frame": lambda: FRAMES,
    "seeded random 1": lambda: random_cuts(BODY, 1),
    "seeded random 2": lambda: random_cuts(BODY, 2),
    "byte by byte": lambda: [BODY[i : i + 1] for i in range(len(BODY))],
}


@pytest.mark.parametrize("how", list(CHUNKINGS))
def test_chunk_boundaries_do_not_change_the_events_or_the_result(how: str) -> None:
    events, interface = run(CHUNKINGS[how]())
    whole, whole_interface = run([BODY])
    assert canonical(events) == canonical(whole)
    result = interface.result().model_dump(exclude={"ttft_ms", "latency_ms"})
    assert result == whole_interface.result().model_dump(exclude={"ttft_ms", "latency_ms"})


def test_the_events_are_anthropic_s_for_the_same_anthropic_events() -> None:
    events, interface = run([BODY])
    anthropic = AnthropicMessagesInterface(message_id="m", provider="bedrock")
    expected = [*anthropic.feed(sse(EVENTS)), *anthropic.finish()]
    assert canonical(events) == canonical(expected)
    result = interface.result()
    assert result.text == "Héllo there" and result.reasoning[0].signature == "c2ln"
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", '{"city": "Oslo"}')]
    assert result.stop_reason == "tool_calls" and result.response_id == "msg_bdrk_1"
    assert result.usage.prompt_tokens == 12 and result.usage.completion_tokens == 7


def test_invocation_metrics_are_read_and_fill_only_counters_the_events_lack() -> None:
    _, interface = run([BODY])
    assert interface.invocation_metrics == InvocationMetrics(12, 7, None, None, 812, 301)
    without_usage = [
        {**EVENTS[0], "message": {**EVENTS[0]["message"], "usage": None}},
        *EVENTS[1:-2],
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {**METRICS, "cacheReadInputTokenCount": 3},
        },
    ]
    _, filled = run([b"".join(chunk(ev) for ev in without_usage)])
    usage = filled.result().usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_input_tokens) == (15, 7, 3)
    disagreeing = [
        *EVENTS[:-1],
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"outputTokenCount": 99}},
    ]
    _, kept = run([b"".join(chunk(ev) for ev in disagreeing)])
    assert kept.result().usage.completion_tokens == 7  # the events' own count stands
    assert kept.invocation_metrics is not None and kept.invocation_metrics.output_token_count == 99


def test_a_text_naming_the_metrics_field_is_only_text() -> None:
    events = [*EVENTS[:7], {"type": "content_block_delta", "index": 1,
              "delta": {"type": "text_delta", "text": "amazon-bedrock-invocationMetrics"}}, *EVENTS[9:-1],
              {"type": "message_stop"}]  # fmt: skip
    _, interface = run([b"".join(chunk(ev) for ev in events)])
    assert (
        interface.invocation_metrics is None and "amazon-bedrock-invocationMetrics" in interface.result().text
    )


@pytest.mark.parametrize(
    ("metrics", "problem"),
    [([], r"amazon-bedrock-invocationMetrics \[\] is not an object"),
     ({"outputTokenCount": -1}, r"invocationMetrics.outputTokenCount -1 is not a non-negative integer"),
     ({"invocationLatency": "fast"}, r"invocationMetrics.invocationLatency 'fast' is not")],
)  # fmt: skip
def test_bad_metrics_are_a_malformed_stream(metrics: object, problem: str) -> None:
    body = b"".join(FRAMES[:-1]) + chunk(
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}
    )
    with pytest.raises(e.MalformedStreamError, match=problem):
        run([body])


@pytest.mark.parametrize(
    ("kind", "message", "cls"),
    [
        ("throttlingException", "Too many requests, please wait before trying again.", e.LLMRateLimitError),
        ("modelStreamErrorException", "The model failed to stream.", e.LLMServerError),
        ("internalServerException", "Internal server error", e.LLMServerError),
        ("serviceUnavailableException", "Service unavailable", e.LLMProviderOverloadedError),
        ("validationException", "Malformed input request", e.LLMBadRequestError),
        ("validationException", "Input is too long for requested model.", e.LLMContextWindowExceededError),
        (
            "validationException",
            "prompt is too long: 210000 tokens > 200000 maximum",
            e.LLMContextWindowExceededError,
        ),
        ("modelTimeoutException", "Model timed out", e.LLMTimeoutError),
        ("somethingNewException", "what", e.LLMServerError),
    ],
)
def test_an_exception_frame_raises_its_class_after_the_events_before_it(
    kind: str, message: str, cls: type
) -> None:
    body = b"".join(FRAMES[:8]) + exception(kind, message) + b"".join(FRAMES[8:])
    for chunks in ([body], [body[i : i + 1] for i in range(len(body))]):
        interface = BedrockMessagesInterface(message_id="m")
        events: list[StreamEvent] = []
        with pytest.raises(e.LLMError) as raised:
            for piece in chunks:
                events += interface.feed(piece)
            interface.finish()
        assert type(raised.value) is cls
        assert (
            raised.value.message == message
            and raised.value.code == kind
            and raised.value.provider == "bedrock"
        )
        assert "".join(getattr(ev, "text", "") for ev in events if ev.kind == "text") == "Héllo"


def test_an_error_frame_is_a_server_error_naming_its_code() -> None:
    headers = {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}
    with pytest.raises(e.LLMServerError, match=r"boom \(InternalFailure\)"):
        run([FRAMES[0] + frame(headers, b"")])


@pytest.mark.parametrize(
    ("payload", "problem"),
    [(b"not json", "a chunk's payload is not JSON"),
     (b'{"p": "x"}', "a chunk's payload has no base64 string 'bytes'"),
     (b'{"bytes": "***"}', "a chunk's 'bytes' is not base64"),
     ('{"bytes": "eyJ0eXBlIjoi\u00e9"}'.encode(), "a chunk's 'bytes' is not base64 \\(a non-ASCII character\\)"),
     (b'{"bytes": "%s"}' % base64.b64encode(b"\xff\xfe"), r"a chunk's event is not UTF-8 \(byte 0\)")],
)  # fmt: skip
def test_a_bad_chunk_is_a_malformed_stream(payload: bytes, problem: str) -> None:
    bad = frame({":message-type": "event", ":event-type": "chunk"}, payload)
    with pytest.raises(e.MalformedStreamError, match="bedrock messages stream: " + problem):
        run([FRAMES[0] + bad])


def test_other_event_types_are_ignored_and_a_missing_message_stop_is_an_incomplete_stream() -> None:
    other = frame({":message-type": "event", ":event-type": "initial-response"}, b"{}")
    events, _ = run([other + BODY])
    assert canonical(events) == canonical(run([BODY])[0])
    with pytest.raises(e.LLMIncompleteStreamError, match="without message_stop"):
        run([b"".join(FRAMES[:-1])])
    with pytest.raises(e.MalformedStreamError, match="the body ends inside a frame"):
        run([BODY[:-3]])


def test_the_non_streamed_invoke_body_is_read_as_anthropic_s() -> None:
    body = {"id": "msg_2", "type": "message", "model": "claude", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "Hi"}], "usage": {"input_tokens": 3, "output_tokens": 1}}  # fmt: skip
    result = BedrockMessagesInterface.parse_response(json.dumps(body).encode(), message_id="m")
    assert (result.text, result.usage.total_tokens, result.stop_reason) == ("Hi", 4, "end_turn")


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [
        (400, "ValidationException", e.LLMBadRequestError),
        (403, "AccessDeniedException", e.LLMPermissionDeniedError),
        (404, "ResourceNotFoundException", e.LLMNotFoundError),
        (408, "ModelTimeoutException", e.LLMTimeoutError),
        (424, "ModelErrorException", e.LLMServerError),
        (429, "ThrottlingException", e.LLMRateLimitError),
        (503, "ServiceUnavailableException", e.LLMProviderOverloadedError),
        (500, "InternalServerException", e.LLMServerError),
        (403, "UnrecognizedClientException", e.LLMAuthenticationError),
        (502, None, e.LLMServerError),
        (418, None, e.LLMError),
    ],
)
def test_the_http_error_table(status: int, error_type: str | None, cls: type) -> None:
    headers = {"X-Amzn-RequestId": "req-9"}
    if error_type is not None:
        headers["x-amzn-ErrorType"] = f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    error = map_bedrock_error(status, {"message": "it failed"}, headers=headers)
    assert type(error) is cls
    assert (error.status, error.code, error.request_id, error.message) == (
        status,
        error_type,
        "req-9",
        "it failed",
    )
    assert error.provider == "bedrock"


def test_the_error_type_may_come_from_the_body_and_a_too_long_input_is_a_context_window_error() -> None:
    error = map_bedrock_error(400, {"__type": "com.amazon.coral.validate#ValidationException",
                                    "Message": "Input is too long for requested model."})  # fmt: skip
    assert type(error) is e.LLMContextWindowExceededError and error.code == "ValidationException"


@pytest.mark.parametrize(
    ("host", "path", "matched"),
    [
        ("bedrock-runtime.us-east-1.amazonaws.com", "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream", True),
        ("bedrock-runtime.eu-west-3.amazonaws.com", "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke", True),
        ("127.0.0.1", "/model/claude/invoke-with-response-stream", True),
        ("127.0.0.1", "/model//invoke", False),
        ("127.0.0.1", "/v1/model/claude/invoke", False),
        ("127.0.0.1", "/model/claude/converse-stream", False),
    ],
)  # fmt: skip
def test_the_url_rule(host: str, path: str, matched: bool) -> None:
    fmt = format_for_url(host, path)
    assert (fmt is not None and fmt.name == "bedrock_messages") is matched
    if matched:
        assert fmt is not None and fmt.api == "messages"
        assert provider_for_url(host, path) == "bedrock"


def test_bedrock_is_its_own_format_for_the_messages_api() -> None:
    assert format_for("messages", "bedrock").interface() is BedrockMessagesInterface
    assert format_for("messages").name == "anthropic_messages"
    assert format_for_request("bedrock", {"model": "m", "messages": []}).name == "bedrock_messages"
    assert provider_for_url("bedrock-runtime.us-east-1.amazonaws.com", "/other") == "bedrock"
    assert provider_for_url("s3.us-east-1.amazonaws.com", "/other") == "s3.us-east-1.amazonaws.com"


# -- the real SDK over a real socket --------------------------------------------------------------

FAKE_KEY_ID = "AKIAEXAMPLEFAKE12345"
FAKE_SECRET = "fakeSecretKeyForTestsOnly0123456789abcdef"  # invented: no real key anywhere


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "ANTHROPIC_BEDROCK_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


REQUEST = {
    "model": "anthropic.claude-sonnet-4-20250514-v1:0",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "weather in Oslo?"}],
}
SIGV4 = re.compile(
    rf"^AWS4-HMAC-SHA256 Credential={FAKE_KEY_ID}/\d{{8}}/us-east-1/bedrock/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$"
)


async def test_the_sdk_signs_the_request_and_the_stream_reaches_the_interface(aws_env: None) -> None:
    served = ServedResponse(200, EVENTSTREAM, tuple(ServedChunk(f) for f in random_cuts(BODY, 3)))
    with LoopbackServer() as server:
        root = server.serve(served)
        pool = ClientPool(max_retries=0)
        try:
            client = pool.client_for("bedrock", root)
            assert isinstance(client, BedrockClient)
            adapter = LLMStreamAdapter(
                client, LLMConfig(model=REQUEST["model"], provider="bedrock"), "agent_step"
            )
            events = [event async for event in adapter.invoke_llm(REQUEST)]
        finally:
            await pool.aclose()
        (request,) = server.received(root)
    case = root.rsplit("/", 1)[-1]
    assert request.method == "POST"
    assert (
        request.path == f"/{case}/model/anthropic.claude-sonnet-4-20250514-v1:0/invoke-with-response-stream"
    )
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert SIGV4.match(headers["authorization"]), headers["authorization"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["x-amz-date"])
    assert FAKE_SECRET not in json.dumps(headers)
    sent = json.loads(request.body)
    assert sent["anthropic_version"] == "bedrock-2023-05-31" and "model" not in sent and "stream" not in sent
    assert canonical(events) == canonical(run([BODY])[0])
    assert adapter.result is not None and adapter.result.text == "Héllo there"
    assert adapter.tool_call is not None and adapter.tool_call.name == "get_weather"


async def test_the_non_streamed_call_goes_to_invoke(aws_env: None) -> None:
    body = {"id": "msg_3", "type": "message", "model": "claude", "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "Sunny"}], "usage": {"input_tokens": 5, "output_tokens": 1}}  # fmt: skip
    served = ServedResponse(
        200, (("content-type", "application/json"),), (ServedChunk(json.dumps(body).encode()),)
    )
    with LoopbackServer() as server:
        root = server.serve(served)
        client = BedrockClient(base_url=root, max_retries=0)
        try:
            adapter = LLMRequestAdapter(
                client, LLMConfig(model=REQUEST["model"], provider="bedrock"), "agent_step"
            )
            result = await adapter.complete(REQUEST)
        finally:
            await client.aclose()
        (request,) = server.received(root)
    assert request.path.endswith("/model/anthropic.claude-sonnet-4-20250514-v1:0/invoke")
    assert result.text == "Sunny" and result.usage.total_tokens == 6


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [(400, "ValidationException", e.LLMBadRequestError), (403, "AccessDeniedException", e.LLMPermissionDeniedError),
     (404, "ResourceNotFoundException", e.LLMNotFoundError), (408, "ModelTimeoutException", e.LLMTimeoutError),
     (424, "ModelErrorException", e.LLMServerError), (429, "ThrottlingException", e.LLMRateLimitError),
     (503, "ServiceUnavailableException", e.LLMProviderOverloadedError),
     (500, "InternalServerException", e.LLMServerError)],
)  # fmt: skip
async def test_an_http_error_through_the_sdk_maps_by_its_error_type(
    aws_env: None, status: int, error_type: str, cls: type
) -> None:
    headers = (
        ("content-type", "application/json"),
        ("x-amzn-ErrorType", f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        ("x-amzn-RequestId", "req-err-1"),
    )
    served = ServedResponse(status, headers, (ServedChunk(b'{"message": "it failed"}'),))
    with LoopbackServer() as server:
        root = server.serve(served)
        client = BedrockClient(base_url=root, max_retries=0)
        try:
            adapter = LLMStreamAdapter(
                client, LLMConfig(model=REQUEST["model"], provider="bedrock"), "agent_step"
            )
            with pytest.raises(e.LLMError) as raised:
                async for _ in adapter.invoke_llm(REQUEST):
                    pass
        finally:
            await client.aclose()
    error = raised.value
    assert type(error) is cls
    assert (error.status, error.code, error.request_id, error.provider) == (
        status,
        error_type,
        "req-err-1",
        "bedrock",
    )


async def test_a_mid_stream_exception_through_the_sdk_keeps_the_request_id(aws_env: None) -> None:
    body = b"".join(FRAMES[:8]) + exception("throttlingException", "slow down")
    served = ServedResponse(200, EVENTSTREAM, (ServedChunk(body),))
    with LoopbackServer() as server:
        root = server.serve(served)
        client = BedrockClient(base_url=root, max_retries=0)
        try:
            adapter = LLMStreamAdapter(
                client, LLMConfig(model=REQUEST["model"], provider="bedrock"), "agent_step"
            )
            texts: list[str] = []
            with pytest.raises(e.LLMRateLimitError) as raised:
                async for event in adapter.invoke_llm(REQUEST):
                    texts.append(event.text if event.kind == "text" else "")
        finally:
            await client.aclose()
    assert "".join(texts) == "Héllo" and raised.value.request_id == "req-aws-1"


def test_no_region_anywhere_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(e.AdapterConfigError, match="cannot build the bedrock client: No AWS region"):
        BedrockClient(aws_access_key=FAKE_KEY_ID, aws_secret_key=FAKE_SECRET)


def test_an_sdk_status_error_of_a_bedrock_call_uses_bedrock_s_table() -> None:
    import anthropic
    import httpx2

    request = httpx2.Request("POST", "http://127.0.0.1/model/m/invoke")
    response = httpx2.Response(
        429, headers={"x-amzn-ErrorType": "ThrottlingException", "x-amzn-RequestId": "r1"}, request=request
    )
    exc = anthropic.RateLimitError(
        "Too many requests", response=response, body={"message": "Too many requests"}
    )
    error = map_sdk_exception(exc, "bedrock")
    assert (
        type(error) is e.LLMRateLimitError
        and error.code == "ThrottlingException"
        and error.request_id == "r1"
    )


def test_an_error_of_ours_while_reading_a_good_chunk_is_not_called_a_malformed_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chunk decoding catches what a bad payload raises; when the payload turns out to read
    fine, the error was a bug of ours and goes on as it is, not as a ``MalformedStreamError``."""
    from streamproof.adapters.formats import bedrock_messages

    real = bedrock_messages._a2b_base64
    calls = []

    def buggy(encoded: str, *, strict_mode: bool) -> bytes:
        calls.append(encoded)
        if len(calls) == 1:
            raise KeyError("a bug of ours")
        return real(encoded, strict_mode=strict_mode)

    monkeypatch.setattr(bedrock_messages, "_a2b_base64", buggy)
    with pytest.raises(KeyError, match="a bug of ours"):
        run([BODY])
