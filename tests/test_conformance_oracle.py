"""The oracle on small synthetic bodies: what each wire format must mean, read from the bytes alone."""

from __future__ import annotations

import json

import pytest

from streamproof.conformance.oracle import error_class_for, expected_for


def sse(*events: object, named: bool = False) -> bytes:
    out = b""
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        name = f"event: {event['type']}\n" if named and isinstance(event, dict) else ""
        out += f"{name}data: {data}\n\n".encode()
    return out


def chat_chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> dict[str, object]:
    return {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def test_chat_text_parallel_tool_calls_and_usage_reported_on_every_chunk() -> None:
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 9,
        "total_tokens": 129,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    body = sse(
        chat_chunk({"role": "assistant", "content": ""}, usage=usage),
        chat_chunk({"content": "Hi"}, usage=usage),
        chat_chunk(
            {"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ""}}]}
        ),
        chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":1}'}}]}),
        chat_chunk(
            {"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "g", "arguments": "{}"}}]}
        ),
        chat_chunk({}, "tool_calls", usage=usage),
        {"id": "c1", "choices": [], "usage": usage},
        "[DONE]",
    )
    expected = expected_for("chat", 200, body)
    assert expected.text == "Hi"
    assert expected.tool_calls == [
        {"id": "call_a", "name": "f", "arguments": '{"x":1}'},
        {"id": "call_b", "name": "g", "arguments": "{}"},
    ]
    assert (
        expected.usage["prompt_tokens"] == 120 and expected.usage["cached_input_tokens"] == 100
    )  # not summed
    assert (expected.stop_reason, expected.provider_stop_reason) == ("tool_calls", "tool_calls")


def test_chat_without_done_is_incomplete_and_bad_json_is_malformed() -> None:
    assert (
        expected_for("chat", 200, sse(chat_chunk({"content": "Hi"}, "stop"))).error
        == "LLMIncompleteStreamError"
    )
    assert expected_for("chat", 200, b"data: {not json\n\ndata: [DONE]\n\n").error == "MalformedStreamError"
    assert (
        expected_for("chat", 200, b'data: {"choices": []}').error == "LLMIncompleteStreamError"
    )  # cut inside


def test_messages_cumulative_usage_signature_and_tool_use_without_deltas() -> None:
    start_usage = {
        "input_tokens": 72,
        "cache_read_input_tokens": 1408,
        "cache_creation_input_tokens": 0,
        "output_tokens": 1,
    }
    body = sse(
        {"type": "message_start", "message": {"id": "msg_1", "usage": start_usage}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm"}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig=="},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {**start_usage, "output_tokens": 30},
        },
        {"type": "message_stop"},
        named=True,
    )
    expected = expected_for("messages", 200, body)
    assert (expected.reasoning, expected.signatures) == ("Hmm", ["sig=="])
    assert expected.tool_calls == [{"id": "toolu_1", "name": "now", "arguments": "{}"}]
    assert expected.usage == {
        "prompt_tokens": 1480,
        "completion_tokens": 30,  # overwritten, never 1 + 30
        "total_tokens": 1510,
        "cached_input_tokens": 1408,
        "cache_write_tokens": 0,
        "reasoning_tokens": None,
    }
    assert (expected.stop_reason, expected.provider_stop_reason) == ("tool_calls", "tool_use")


def test_messages_error_event_is_overloaded() -> None:
    body = sse(
        {"type": "message_start", "message": {"usage": {"input_tokens": 1}}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        named=True,
    )
    assert expected_for("messages", 200, body).error == "LLMProviderOverloadedError"


def test_responses_function_call_and_incomplete_without_response_created() -> None:
    body = sse(
        {
            "type": "response.output_item.added",
            "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f"},
        },
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"a":'},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "2}"},
        {"type": "response.output_text.delta", "delta": "ok"},
        {
            "type": "response.incomplete",
            "response": {
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "usage": {
                    "input_tokens": 5,
                    "output_tokens": 7,
                    "total_tokens": 12,
                    "input_tokens_details": {"cached_tokens": 0},
                },
            },
        },
    )
    expected = expected_for("responses", 200, body)
    assert expected.tool_calls == [{"id": "call_1", "name": "f", "arguments": '{"a":2}'}]
    assert (expected.text, expected.stop_reason, expected.provider_stop_reason) == (
        "ok",
        "max_tokens",
        "max_output_tokens",
    )
    assert expected.usage["total_tokens"] == 12 and expected.usage["cache_write_tokens"] is None


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            429,
            {"error": {"type": "insufficient_quota", "code": "insufficient_quota"}},
            "LLMInsufficientCreditsError",
        ),
        (429, {"error": {"type": "rate_limit_error", "message": "slow down"}}, "LLMRateLimitError"),
        (400, {"error": {"message": "prompt is too long: 210000 tokens"}}, "LLMContextWindowExceededError"),
        (400, {"error": {"message": "bad temperature"}}, "LLMBadRequestError"),
        (401, {"type": "error", "error": {"type": "authentication_error"}}, "LLMAuthenticationError"),
        (503, {}, "LLMProviderOverloadedError"),
        (529, {"type": "error", "error": {"type": "overloaded_error"}}, "LLMProviderOverloadedError"),
        (None, {"error": {"message": "x", "type": "server_error"}}, "LLMServerError"),
    ],
)
def test_error_classes(status: int | None, body: dict[str, object], error: str) -> None:
    assert error_class_for(status, body) == error


def test_responses_client_executed_tool_search_is_a_client_tool_call() -> None:
    client = {"id": "tsc_1", "type": "tool_search_call", "arguments": {}, "call_id": "call_ts", "execution": "client"}
    server = {"id": "tss_1", "type": "tool_search_call", "arguments": {"paths": ["f"]}, "call_id": None, "execution": "server"}
    done = {**client, "arguments": {"queries": ["usd eur"]}}
    body = sse(
        {"type": "response.output_item.added", "output_index": 0, "item": server},
        {"type": "response.output_item.done", "output_index": 0, "item": server},
        {"type": "response.output_item.added", "output_index": 1, "item": client},
        {"type": "response.output_item.done", "output_index": 1, "item": done},
        {"type": "response.completed", "response": {"status": "completed", "output": [server, done]}},
    )
    expected = expected_for("responses", 200, body)
    assert expected.tool_calls == [{"id": "call_ts", "name": "tool_search", "arguments": '{"queries":["usd eur"]}'}]
    assert expected.stop_reason == "tool_calls"


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_a_body_that_is_not_utf8_is_a_malformed_stream_as_for_the_reference(api: str) -> None:
    """A byte that is not UTF-8 inside an SSE line: the reference's decoder raises
    ``MalformedStreamError``; the oracle must say the same, not crash with ``UnicodeDecodeError``
    (a crash of the suite would be the case's ``error``, not a verdict)."""
    from streamproof.adapters.errors import MalformedStreamError
    from streamproof.adapters.formats import interface_for_api

    body = b'data: {"type": "x", "text": "caf\xe9"}\n\n'
    assert expected_for(api, 200, body).error == "MalformedStreamError"
    interface = interface_for_api(api)()
    with pytest.raises(MalformedStreamError, match="not valid UTF-8"):
        interface.feed(body)
