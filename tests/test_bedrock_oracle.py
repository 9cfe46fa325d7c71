"""The oracle's Bedrock reader on frames built here: event-stream framing read by botocore, base64
chunks read as Anthropic events, invocation metrics, exception frames and HTTP errors mapped to
the error classes, and every broken frame a MalformedStreamError."""

from __future__ import annotations

import base64
import json

import pytest

from streamproof.conformance.oracle import READERS, expected_for
from streamproof.harness.formats.eventstream_encode import (
    chunk_frame,
    encode_message,
    event_frame,
    exception_frame,
)

METRICS = {
    "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 12,
        "outputTokenCount": 3,
        "invocationLatency": 410,
        "firstByteLatency": 230,
    }
}
START = {
    "type": "message_start",
    "message": {"id": "msg_bdrk_1", "role": "assistant", "usage": {"input_tokens": 12, "output_tokens": 1}},
}
BLOCK = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
DELTAS = [
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
    for t in ("Hel", "lo")
]
END = [
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
]
STOP = {"type": "message_stop"}


def stream(*frames: bytes) -> bytes:
    return b"".join(frames)


def text_stream(start: dict[str, object] = START) -> bytes:
    events = [chunk_frame(e) for e in (start, BLOCK, *DELTAS, *END)]
    return stream(*events, chunk_frame(STOP, METRICS))


def bedrock(status: int, body: bytes, headers: dict[str, str] | None = None) -> str | None:
    return expected_for("messages", status, body, provider="bedrock", headers=headers).error


def test_bedrock_is_a_reader_of_its_own() -> None:
    assert READERS["bedrock_messages"] is not READERS["anthropic_messages"]


def test_a_chunked_stream_reads_as_the_anthropic_events_in_it() -> None:
    expected = expected_for("messages", 200, text_stream(), provider="bedrock")
    assert expected.error is None
    assert (expected.text, expected.stop_reason, expected.provider_stop_reason) == (
        "Hello",
        "end_turn",
        "end_turn",
    )
    assert expected.usage["prompt_tokens"] == 12 and expected.usage["completion_tokens"] == 3
    assert expected.usage["total_tokens"] == 15


def test_the_invocation_metrics_give_a_counter_the_events_leave_out() -> None:
    start = {"type": "message_start", "message": {"id": "msg_bdrk_2", "role": "assistant", "usage": {}}}
    expected = expected_for("messages", 200, text_stream(start), provider="bedrock")
    assert expected.usage["prompt_tokens"] == 12  # inputTokenCount
    assert expected.usage["completion_tokens"] == 3  # the events' own count stands


@pytest.mark.parametrize(
    ("exception", "message", "error"),
    [
        ("throttlingException", "Too many tokens", "LLMRateLimitError"),
        ("modelStreamErrorException", "The model failed", "LLMServerError"),
        ("internalServerException", "Unexpected error", "LLMServerError"),
        ("serviceUnavailableException", "Unavailable", "LLMProviderOverloadedError"),
        ("validationException", "Bad request", "LLMBadRequestError"),
        ("validationException", "Input is too long for requested model.", "LLMContextWindowExceededError"),
        ("somethingNewException", "?", "LLMServerError"),
    ],
)
def test_an_exception_frame_mid_stream_is_its_error(exception: str, message: str, error: str) -> None:
    body = stream(chunk_frame(START), chunk_frame(BLOCK), exception_frame(exception, message))
    assert bedrock(200, body) == error


def test_an_error_frame_is_a_server_error_and_other_event_types_carry_nothing() -> None:
    error = encode_message({":message-type": "error", ":error-code": "InternalFailure"}, b"")
    assert bedrock(200, stream(chunk_frame(START), error)) == "LLMServerError"
    other = event_frame("initial-response", b"{}")
    body = stream(other, text_stream())
    assert expected_for("messages", 200, body, provider="bedrock").text == "Hello"


def _bad_message_crc(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0xFF])


def _bad_prelude_crc(frame: bytes) -> bytes:
    return frame[:8] + bytes([frame[8] ^ 0xFF]) + frame[9:]


def _wrong_length(frame: bytes) -> bytes:
    return (len(frame) + 7).to_bytes(4, "big") + frame[4:]


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda body, last: body[: -len(last)] + _bad_message_crc(last), id="message-crc"),
        pytest.param(lambda body, last: body[: -len(last)] + _bad_prelude_crc(last), id="prelude-crc"),
        pytest.param(lambda body, last: body[: -len(last)] + _wrong_length(last), id="wrong-length"),
        pytest.param(lambda body, last: body[:-5], id="truncated-frame"),
        pytest.param(lambda body, last: body[: -len(last)] + last[:7], id="truncated-prelude"),
        pytest.param(
            lambda body, last: body[: -len(last)] + encode_message({":message-type": "bogus"}, b"{}"),
            id="unknown-message-type",
        ),
        pytest.param(
            lambda body, last: body[: -len(last)] + event_frame("chunk", b'{"bytes": "not base64!"}'),
            id="not-base64",
        ),
        pytest.param(
            lambda body, last: (
                body[: -len(last)]
                + event_frame("chunk", json.dumps({"bytes": base64.b64encode(b"[1]").decode()}).encode())
            ),
            id="not-an-event-object",
        ),
        pytest.param(
            lambda body, last: body[: -len(last)] + event_frame("chunk", b"{not json"), id="not-json"
        ),
    ],
)
def test_a_broken_frame_is_a_malformed_stream(broken: object) -> None:
    last = chunk_frame(STOP, METRICS)
    body = text_stream()
    assert body.endswith(last)
    assert bedrock(200, broken(body, last)) == "MalformedStreamError"  # type: ignore[operator]


def test_a_stream_cut_between_frames_is_incomplete() -> None:
    body = text_stream()
    assert bedrock(200, body[: -len(chunk_frame(STOP, METRICS))]) == "LLMIncompleteStreamError"


@pytest.mark.parametrize(
    ("status", "error_type", "message", "error"),
    [
        (400, "ValidationException", "Malformed input request", "LLMBadRequestError"),
        (
            400,
            "ValidationException",
            "Input is too long for requested model.",
            "LLMContextWindowExceededError",
        ),
        (403, "AccessDeniedException", "denied", "LLMPermissionDeniedError"),
        (403, "UnrecognizedClientException", "The security token is invalid.", "LLMAuthenticationError"),
        (404, "ResourceNotFoundException", "no such model", "LLMNotFoundError"),
        (408, "ModelTimeoutException", "timed out", "LLMTimeoutError"),
        (424, "ModelErrorException", "the model failed", "LLMServerError"),
        (429, "ThrottlingException", "slow down", "LLMRateLimitError"),
        (500, "InternalServerException", "oops", "LLMServerError"),
        (503, "ServiceUnavailableException", "unavailable", "LLMProviderOverloadedError"),
    ],
)
def test_an_http_error_is_its_exception_type(status: int, error_type: str, message: str, error: str) -> None:
    headers = {"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    assert bedrock(status, json.dumps({"message": message}).encode(), headers) == error


def test_an_http_error_without_its_type_falls_back_on_the_status() -> None:
    assert bedrock(429, b'{"message": "Too many requests"}') == "LLMRateLimitError"
    assert bedrock(503, b"<html>proxy</html>") == "LLMProviderOverloadedError"
