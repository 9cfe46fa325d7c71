"""OpenAI Responses interface: the quirks of REAL-STREAMS.md §3 on small synthetic bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproof.adapters.errors import (
    LLMBadRequestError,
    LLMIncompleteStreamError,
    LLMRateLimitError,
    LLMServerError,
    MalformedStreamError,
    StreamproofError,
)
from streamproof.adapters.events import StopReason, TextDelta, ToolCallDelta
from streamproof.adapters.formats.openai_responses import OpenAIResponsesInterface
from streamproof.harness.rechunk import at_random_offsets

USAGE = {
    "input_tokens": 30,
    "input_tokens_details": {"cached_tokens": 12},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 4},
    "total_tokens": 39,
}


def response(status: str = "completed", output: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "status": status,
        "model": "gpt-test",
        "output": output or [],
        **extra,
    }


def sse(*events: dict[str, Any], named: bool = True, done: bool = False) -> bytes:
    parts = []
    for event in events:
        head = f"event: {event['type']}\n" if named else ""
        parts.append(f"{head}data: {json.dumps(event)}\n\n")
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def replay(body: bytes, chunks: list[bytes] | None = None) -> tuple[OpenAIResponsesInterface, list[Any]]:
    interface = OpenAIResponsesInterface()
    return interface, list(interface.iter_events(chunks if chunks is not None else [body]))


def text_delta(text: str, output_index: int = 0) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "item_id": "msg_1",
        "output_index": output_index,
        "content_index": 0,
        "delta": text,
    }


def completed(**extra: Any) -> dict[str, Any]:
    return {"type": "response.completed", "response": response(usage=USAGE, **extra)}


def test_text_usage_and_identity() -> None:
    body = sse(
        {"type": "response.created", "sequence_number": 0, "response": response("in_progress")},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "msg_1", "type": "message", "content": []},
        },
        text_delta("Hi"),
        text_delta(" there"),
        completed(),
    )
    interface, events = replay(body)
    result = interface.result()
    assert result.text == "Hi there"
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi", " there"]
    assert (result.stop_reason, result.provider_stop_reason) == ("end_turn", "completed")
    assert (result.usage.prompt_tokens, result.usage.cached_input_tokens, result.usage.reasoning_tokens) == (
        30,
        12,
        4,
    )
    assert result.usage.total_tokens == 39 and result.usage.completion_tokens == 9
    assert (result.model, result.response_id) == ("gpt-test", "resp_1")
    assert isinstance(events[-1], StopReason)


def test_resume_stream_without_created_and_background_queued_start() -> None:
    resumed = sse(text_delta("2"), text_delta("+2"), completed())
    assert replay(resumed)[0].result().text == "2+2"
    background = sse(
        {"type": "response.queued", "sequence_number": 1, "response": response("queued")},
        text_delta("ok"),
        completed(),
    )
    assert replay(background)[0].result().response_id == "resp_1"


def test_openrouter_style_no_event_lines_and_done_after_completed() -> None:
    body = b": OPENROUTER PROCESSING\n\n" + sse(
        {"type": "response.reasoning_text.delta", "output_index": 0, "item_id": "rs_1", "delta": "Think"},
        text_delta("4", output_index=1),
        completed(),
        named=False,
        done=True,
    )
    result = replay(body)[0].result()
    assert (result.text, result.reasoning_text) == ("4", "Think")


def test_function_call_id_is_the_call_id_and_arguments_come_from_deltas() -> None:
    item = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_A",
        "name": "get_capital",
        "arguments": "",
    }
    body = sse(
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": '{"country":',
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": '"France"}',
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**item, "arguments": '{"country":"France"}'},
        },
        completed(output=[{**item, "arguments": '{"country":"France"}'}]),
    )
    interface, events = replay(body)
    result = interface.result()
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_A", "get_capital", {"country": "France"})
    ]
    assert (result.stop_reason, result.provider_stop_reason) == ("tool_calls", "completed")
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == ["", '{"country":', '"France"}']


def test_items_never_done_are_finalised_at_completed() -> None:
    first = {"id": "fc_1", "type": "function_call", "call_id": "call_A", "name": "a", "arguments": ""}
    body = sse(
        {"type": "response.output_item.added", "output_index": 0, "item": first},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": "{}",
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"id": "mcp_1", "type": "mcp_list_tools"},
        },
        completed(
            output=[
                first,
                {
                    "id": "fc_2",
                    "type": "function_call",
                    "call_id": "call_B",
                    "name": "b",
                    "arguments": '{"x":1}',
                },
            ]
        ),
    )
    result = replay(body)[0].result()
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_A", "a", "{}"),
        ("call_B", "b", '{"x":1}'),
    ]


def test_server_tool_items_are_not_tool_calls() -> None:
    body = sse(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "ws_1", "type": "web_search_call"},
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"id": "ci_1", "type": "code_interpreter_call"},
        },
        {
            "type": "response.code_interpreter_call_code.delta",
            "item_id": "ci_1",
            "output_index": 1,
            "delta": "print(1)",
        },
        {"type": "response.mcp_call_arguments.delta", "item_id": "m", "output_index": 2, "delta": "{}"},
        text_delta("done", output_index=3),
        completed(),
    )
    result = replay(body)[0].result()
    assert result.tool_calls == [] and result.stop_reason == "end_turn"


def tool_search_stream() -> bytes:
    """A client-executed tool search (gpt-5.4 with ``execution: client``) after a server-side one."""
    server = {"id": "tss_1", "type": "tool_search_call", "arguments": {}, "call_id": None, "execution": "server"}
    client = {"id": "tsc_1", "type": "tool_search_call", "arguments": {}, "call_id": "call_ts", "execution": "client"}
    done = {**client, "status": "completed", "arguments": {"queries": ["exchange rate USD EUR"]}}
    return sse(
        {"type": "response.output_item.added", "output_index": 0, "item": server},
        {"type": "response.output_item.done", "output_index": 0, "item": {**server, "arguments": {"paths": ["f"]}}},
        {"type": "response.output_item.added", "output_index": 1, "item": client},
        {"type": "response.output_item.done", "output_index": 1, "item": done},
        completed(output=[{**server, "arguments": {"paths": ["f"]}}, done]),
    )


def test_a_client_executed_tool_search_is_a_tool_call_named_tool_search() -> None:
    from independent_reader import read

    body = tool_search_stream()
    interface, events = replay(body)
    result = interface.result()
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls]
    assert calls == [("call_ts", "tool_search", {"queries": ["exchange rate USD EUR"]})]
    assert result.stop_reason == "tool_calls"
    assert next(e for e in events if isinstance(e, ToolCallDelta)).name == "tool_search"
    # the independent reader agrees (and leaves the server-side search out too)
    expected = read("responses", 200, "text/event-stream", body)
    assert expected["tool_calls"] == [("tool_search", {"queries": ["exchange rate USD EUR"]})]


def test_reasoning_summary_deltas_one_block_per_item() -> None:
    body = sse(
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 0,
            "summary_index": 0,
            "delta": "**Plan**",
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 0,
            "summary_index": 1,
            "delta": " go",
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 2,
            "summary_index": 0,
            "delta": "again",
        },
        text_delta("x", output_index=3),
        completed(),
    )
    result = replay(body)[0].result()
    assert [b.text for b in result.reasoning] == ["**Plan** go", "again"]
    assert result.reasoning_text == "**Plan** goagain"


def test_refusal_and_incomplete_max_output_tokens() -> None:
    refusal = sse(
        {"type": "response.refusal.delta", "item_id": "msg_1", "output_index": 0, "delta": "No."}, completed()
    )
    result = replay(refusal)[0].result()
    assert (result.refusal, result.stop_reason) == ("No.", "refusal")
    cut = sse(
        text_delta("Once upon"),
        {
            "type": "response.incomplete",
            "response": response(
                "incomplete", incomplete_details={"reason": "max_output_tokens"}, usage=USAGE
            ),
        },
    )
    result = replay(cut)[0].result()
    assert (result.stop_reason, result.provider_stop_reason) == ("max_tokens", "max_output_tokens")
    assert result.usage.prompt_tokens == 30


def test_response_failed_and_error_event_raise_mapped_errors() -> None:
    failed = sse(
        text_delta("a"),
        {
            "type": "response.failed",
            "response": response("failed", error={"code": "server_error", "message": "The model failed"}),
        },
    )
    with pytest.raises(LLMServerError, match="The model failed"):
        replay(failed)
    error = sse(
        text_delta("a"),
        {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down", "param": None},
    )
    with pytest.raises(LLMRateLimitError, match="Slow down"):
        replay(error)
    nested = sse(
        {"type": "error", "error": {"type": "invalid_request_error", "code": "bad", "message": "Bad input"}}
    )
    with pytest.raises(LLMBadRequestError, match="Bad input"):
        replay(nested)


def test_stream_without_terminal_event_is_incomplete_even_with_done() -> None:
    with pytest.raises(LLMIncompleteStreamError, match=r"without response\.completed"):
        replay(sse(text_delta("a")))
    with pytest.raises(LLMIncompleteStreamError, match=r"without response\.completed"):
        replay(sse(text_delta("a"), named=False, done=True))


def test_bad_json_and_wrong_shapes_are_malformed() -> None:
    with pytest.raises(MalformedStreamError, match="not valid JSON"):
        replay(b"event: response.output_text.delta\ndata: {oops\n\n" + sse(completed()))
    with pytest.raises(MalformedStreamError, match="unexpected event shape"):
        replay(sse({"type": "response.output_text.delta", "delta": 5}, completed()))
    with pytest.raises(MalformedStreamError, match="unexpected event shape"):
        replay(sse({"type": "response.completed", "response": "done"}))


def test_random_rechunking_and_crlf_give_the_same_result() -> None:
    body = sse(text_delta("é—ü"), text_delta(" ✓"), completed()).replace(b"\n", b"\r\n")
    whole = replay(body)[0].result()
    for seed in range(5):
        again = replay(body, at_random_offsets(body, seed, mean_size=3))[0].result()
        assert again.text == whole.text == "é—ü ✓"
        assert again.usage == whole.usage


def test_non_streamed_response_gives_the_same_result_type() -> None:
    body = response(
        output=[
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Hmm"}]},
            {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hello"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_Z", "name": "f", "arguments": '{"a":2}'},
        ],
        usage=USAGE,
        error=None,
    )
    result = OpenAIResponsesInterface.parse_response(json.dumps(body).encode())
    assert (result.text, result.reasoning_text) == ("Hello", "Hmm")
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("call_Z", "f", '{"a":2}')]
    assert result.stop_reason == "tool_calls" and result.usage.cached_input_tokens == 12


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
EVENT_TYPES = st.sampled_from(
    [
        "response.output_text.delta",
        "response.output_item.added",
        "response.output_item.done",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
        "response.refusal.delta",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
    ]
)
FIELDS = st.sampled_from(["delta", "item", "response", "item_id", "output_index", "code", "message"])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(EVENT_TYPES, st.dictionaries(FIELDS, JSON_VALUES, max_size=4)), max_size=6),
    st.integers(0, 400),
)
def test_fuzzed_events_raise_only_project_errors(events: list[tuple[str, dict[str, Any]]], cut: int) -> None:
    body = sse(*({"type": kind, **fields} for kind, fields in events))
    for chunks in ([body], [body[:cut]]):
        try:
            replay(b"".join(chunks))[0].result()
        except StreamproofError as exc:
            assert str(exc)


def test_encrypted_reasoning_signs_its_block_when_the_item_is_done() -> None:
    added = {"id": "rs_1", "type": "reasoning", "encrypted_content": "early", "summary": []}
    done = {**added, "encrypted_content": "final"}
    streamed = sse(
        {"type": "response.output_item.added", "output_index": 0, "item": added},
        {
            "type": "response.reasoning_summary_text.delta",
            "output_index": 0,
            "summary_index": 0,
            "delta": "Hm",
        },
        {"type": "response.output_item.done", "output_index": 0, "item": done},
        {"type": "response.output_item.added", "output_index": 1, "item": {**added, "id": "rs_2"}},
        completed(output=[done, {**done, "id": "rs_2", "encrypted_content": "second"}]),
    )
    result = replay(streamed)[0].result()
    assert [(b.text, b.signature) for b in result.reasoning] == [("Hm", "final"), ("", "second")]
    parsed = OpenAIResponsesInterface.parse_response(json.dumps(response(output=[done])).encode())
    assert [(b.text, b.signature) for b in parsed.reasoning] == [("", "final")]


def reasoning_delta(output_index: object, text: str, **indices: object) -> dict[str, Any]:
    return {
        "type": "response.reasoning_summary_text.delta",
        "output_index": output_index,
        "delta": text,
        **indices,
    }


def test_an_output_index_sent_as_a_string_is_malformed_not_a_type_error() -> None:
    # "1" beside 0: the result's blocks could not be sorted, a bare TypeError after the stop event
    body = sse(
        reasoning_delta(0, "a", summary_index=0), reasoning_delta("1", "b", summary_index=0), completed()
    )
    with pytest.raises(
        MalformedStreamError,
        match=r"responses stream: response\.reasoning_summary_text\.delta output_index '1' is not an integer index",
    ):
        replay(body)[0].result()


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({**text_delta("x"), "content_index": "0"}, "response.output_text.delta content_index '0'"),
        (
            {**text_delta("x"), "output_index": None, "content_index": True},
            "output_text.delta content_index True",
        ),
        (reasoning_delta(0, "a", summary_index=True), "reasoning_summary_text.delta summary_index True"),
        (
            {"type": "response.reasoning_text.delta", "output_index": 0, "content_index": 0.0, "delta": "a"},
            "response.reasoning_text.delta content_index 0.0",
        ),
        (
            {
                "type": "response.function_call_arguments.delta",
                "item_id": "fc",
                "output_index": 1.0,
                "delta": "{",
            },
            "function_call_arguments.delta output_index 1.0",
        ),
        (
            {"type": "response.output_item.added", "output_index": [0], "item": {"type": "function_call"}},
            "response.output_item.added output_index [0]",
        ),
    ],
)
def test_every_index_field_must_be_an_int(event: dict[str, Any], where: str) -> None:
    with pytest.raises(MalformedStreamError, match="is not an integer index") as caught:
        replay(sse(event, completed()))[0].result()
    assert where in str(caught.value)
