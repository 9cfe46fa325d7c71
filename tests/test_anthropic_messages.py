"""Anthropic Messages streaming interface: every quirk of REAL-STREAMS.md §2-§3 on small synthetic bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streamproof.adapters.errors import (
    LLMIncompleteStreamError,
    LLMProviderOverloadedError,
    LLMRateLimitError,
    MalformedStreamError,
)
from streamproof.adapters.events import (
    HiddenReasoning,
    LLMResult,
    ReasoningDelta,
    StopReason,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from streamproof.adapters.formats import interface_for_api
from streamproof.adapters.formats.anthropic_messages import AnthropicMessagesInterface
from streamproof.harness.rechunk import at_events, at_random_offsets, byte_by_byte

REAL_CASSETTES = Path(__file__).parents[1].parent / "shared" / "real-cassettes"


def event(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    name = json.loads(data)["type"]
    return f"event: {name}\ndata: {data}\n\n"


def message_start(**usage: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_01ABC",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 1},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def text(index: int, piece: str) -> dict[str, Any]:
    return delta(index, {"type": "text_delta", "text": piece})


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str | None = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage or {"output_tokens": 5},
    }


MESSAGE_STOP = {"type": "message_stop"}


def body(*events: dict[str, Any] | str) -> bytes:
    return "".join(event(e) for e in events).encode()


def run(data: bytes | list[bytes], **switches: Any) -> tuple[list[StreamEvent], LLMResult]:
    interface = AnthropicMessagesInterface(message_id="m", **switches)
    chunks = [data] if isinstance(data, bytes) else data
    events = list(interface.iter_events(chunks))
    return events, interface.result()


def simple_text_body(*pieces: str) -> bytes:
    return body(
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        *(text(0, p) for p in pieces),
        block_stop(0),
        message_delta(),
        MESSAGE_STOP,
    )


def test_text_stream_gives_text_deltas_stop_reason_model_and_id() -> None:
    events, result = run(simple_text_body("Hello", ", ", "world"))
    assert [type(e) for e in events] == [TextDelta, TextDelta, TextDelta, StopReason]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", ", ", "world"]
    assert result.text == "Hello, world"
    assert (result.stop_reason, result.provider_stop_reason) == ("end_turn", "end_turn")
    assert (result.model, result.response_id) == ("claude-sonnet-4-20250514", "msg_01ABC")
    assert {e.message_id for e in events} == {"m"}
    assert len({e.event_id for e in events}) == len(events)
    assert interface_for_api("messages") is AnthropicMessagesInterface


def test_padded_json_and_pings_anywhere_are_tolerated() -> None:
    raw = (
        event('{"type": "ping"}')
        + event(json.dumps(message_start()) + "    ")
        + event('{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}    }')
        + event('{"type": "ping"}')
        + event(
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}               }'
        )
        + event('{"type": "ping"}')
        + event('{"type":"content_block_stop","index":0  }')
        + event(message_delta())
        + event('{"type":"message_stop"         }')
        + event('{"type": "ping"}')
    ).encode()
    events, result = run(raw)
    assert result.text == "Hi"
    assert [type(e) for e in events] == [TextDelta, StopReason]


THINKING_BODY = body(
    message_start(),
    block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
    {"type": "ping"},
    delta(0, {"type": "thinking_delta", "thinking": "think."}),
    delta(0, {"type": "signature_delta", "signature": "EvMCCkYICxgCKkCHP2=="}),
    block_stop(0),
    block_start(1, {"type": "text", "text": ""}),
    text(1, "Answer"),
    block_stop(1),
    message_delta(),
    MESSAGE_STOP,
)


def test_thinking_streams_reasoning_then_the_signature_as_its_own_event_on_the_same_block() -> None:
    events, result = run(THINKING_BODY)
    reasoning = [e for e in events if isinstance(e, ReasoningDelta)]
    assert [(e.block, e.text, e.signature) for e in reasoning] == [
        (0, "Let me ", None),
        (0, "think.", None),
        (0, "", "EvMCCkYICxgCKkCHP2=="),
    ]
    # the signature event comes before anything of the next block: the block was still open
    assert events.index(reasoning[-1]) < next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert [(b.text, b.signature) for b in result.reasoning] == [("Let me think.", "EvMCCkYICxgCKkCHP2==")]
    assert result.reasoning_text == "Let me think."
    assert result.text == "Answer"


def test_thinking_block_with_only_a_signature() -> None:
    events, result = run(
        body(
            message_start(),
            block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
            delta(0, {"type": "signature_delta", "signature": "sig-only"}),
            block_stop(0),
            message_delta(),
            MESSAGE_STOP,
        )
    )
    assert [(type(e), getattr(e, "signature", None)) for e in events] == [
        (ReasoningDelta, "sig-only"),
        (StopReason, None),
    ]
    assert [(b.text, b.signature) for b in result.reasoning] == [("", "sig-only")]


def test_redacted_thinking_arrives_whole_as_hidden_reasoning() -> None:
    events, result = run(
        body(
            message_start(),
            block_start(0, {"type": "redacted_thinking", "data": "EqkECkYIBxgC"}),
            {"type": "ping"},
            block_stop(0),
            block_start(1, {"type": "text", "text": ""}),
            text(1, "ok"),
            block_stop(1),
            message_delta(),
            MESSAGE_STOP,
        )
    )
    hidden = [e for e in events if isinstance(e, HiddenReasoning)]
    assert [(e.block, e.state, e.data) for e in hidden] == [(0, "redacted", "EqkECkYIBxgC")]
    assert [(b.state, b.data) for b in result.hidden_reasoning] == [("redacted", "EqkECkYIBxgC")]
    assert result.text == "ok"


def test_server_tool_blocks_are_not_client_tool_calls() -> None:
    events, result = run(
        body(
            message_start(),
            block_start(
                0, {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}}
            ),
            delta(0, {"type": "input_json_delta", "partial_json": '{"query": "weather"}'}),
            block_stop(0),
            block_start(
                1,
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": [{"type": "x"}]},
            ),
            block_stop(1),
            block_start(2, {"type": "text", "text": ""}),
            text(2, "Sunny"),
            delta(2, {"type": "citations_delta", "citation": {"type": "web_search_result_location"}}),
            block_stop(2),
            message_delta(),
            MESSAGE_STOP,
        )
    )
    assert result.tool_calls == []
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    assert result.text == "Sunny"


def tool_body(*partials: str, placeholder: dict[str, Any] | None = None) -> bytes:
    start = {"type": "tool_use", "id": "toolu_01EF", "name": "get_exchange_rate", "input": placeholder or {}}
    return body(
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        text(0, "Checking."),
        block_stop(0),
        block_start(1, {**start, "caller": {"type": "direct"}}),
        *(delta(1, {"type": "input_json_delta", "partial_json": p}) for p in partials),
        block_stop(1),
        message_delta("tool_use"),
        MESSAGE_STOP,
    )


def test_tool_use_placeholder_is_replaced_by_the_streamed_json() -> None:
    events, result = run(tool_body("", '{"from": "US', 'D", "to": "EUR"}'))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(c.index, c.id, c.name, c.arguments) for c in calls] == [
        (0, "toolu_01EF", "get_exchange_rate", ""),
        (0, None, None, '{"from": "US'),
        (0, None, None, 'D", "to": "EUR"}'),
    ]
    [call] = result.tool_calls
    assert (call.id, call.name, call.arguments) == (
        "toolu_01EF",
        "get_exchange_rate",
        '{"from": "USD", "to": "EUR"}',
    )
    assert (result.stop_reason, result.provider_stop_reason) == ("tool_calls", "tool_use")


def test_tool_use_without_deltas_really_has_an_empty_input() -> None:
    events, result = run(tool_body())
    assert [c.arguments for c in result.tool_calls] == ["{}"]
    assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta)) == "{}"


def test_tool_use_without_deltas_keeps_a_non_empty_start_input() -> None:
    _, result = run(tool_body(placeholder={"from": "GBP"}))
    assert [json.loads(c.arguments) for c in result.tool_calls] == [{"from": "GBP"}]


def test_parallel_tool_calls_keep_their_order() -> None:
    _, result = run(
        body(
            message_start(),
            block_start(0, {"type": "tool_use", "id": "toolu_a", "name": "first", "input": {}}),
            delta(0, {"type": "input_json_delta", "partial_json": '{"n": 1}'}),
            block_stop(0),
            block_start(1, {"type": "tool_use", "id": "toolu_b", "name": "second", "input": {}}),
            block_stop(1),
            message_delta("tool_use"),
            MESSAGE_STOP,
        )
    )
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("toolu_a", "first", '{"n": 1}'),
        ("toolu_b", "second", "{}"),
    ]


def test_unknown_events_blocks_deltas_and_fields_are_tolerated() -> None:
    _, result = run(
        body(
            {**message_start(), "brand_new": {"x": 1}},
            {"type": "some_future_event", "payload": [1, 2]},
            block_start(0, {"type": "future_block", "stuff": "x"}),
            delta(0, {"type": "future_delta", "value": 1}),
            block_stop(0),
            block_start(1, {"type": "text", "text": "", "citations": None}),
            delta(1, {"type": "future_delta", "value": 2}),
            text(1, "still fine"),
            block_stop(1),
            {**message_delta(), "stop_details": {"kind": "x"}},
            MESSAGE_STOP,
        )
    )
    assert result.text == "still fine"


def test_usage_is_cumulative_and_overwritten_never_added() -> None:
    _, result = run(
        body(
            message_start(
                input_tokens=31772,
                cache_read_input_tokens=100,
                cache_creation_input_tokens=5,
                output_tokens=3,
            ),
            block_start(0, {"type": "text", "text": ""}),
            text(0, "x"),
            block_stop(0),
            message_delta(input_tokens=31772, output_tokens=644),
            MESSAGE_STOP,
        )
    )
    usage = result.usage
    assert usage.prompt_tokens == 31772 + 100 + 5
    assert usage.completion_tokens == 644
    assert usage.total_tokens == 31772 + 100 + 5 + 644
    assert (usage.cached_input_tokens, usage.cache_write_tokens, usage.reasoning_tokens) == (100, 5, None)


def test_usage_not_reported_stays_none() -> None:
    raw = body(
        {"type": "message_start", "message": {"id": "msg_x", "model": "m"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
        MESSAGE_STOP,
    )
    _, result = run(raw)
    assert result.usage.model_dump(exclude={"step_count"}) == dict.fromkeys(result.usage.public_dict())


@pytest.mark.parametrize(
    ("provider_reason", "normalized"),
    [
        ("end_turn", "end_turn"),
        ("max_tokens", "max_tokens"),
        ("tool_use", "tool_calls"),
        ("stop_sequence", "stop_sequence"),
        ("refusal", "refusal"),
        ("pause_turn", "pause_turn"),
        ("model_context_window_exceeded", "context_window"),
        ("something_new", "other"),
    ],
)
def test_stop_reasons_are_normalized_and_the_provider_word_kept(
    provider_reason: str, normalized: str
) -> None:
    events, result = run(body(message_start(), message_delta(provider_reason), MESSAGE_STOP))
    assert (result.stop_reason, result.provider_stop_reason) == (normalized, provider_reason)
    assert [(e.reason, e.provider_reason) for e in events if isinstance(e, StopReason)] == [
        (normalized, provider_reason)
    ]


def test_error_event_raises_the_mapped_error() -> None:
    raw = simple_text_body("partial")[: -len(event(MESSAGE_STOP))]
    raw += event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}).encode()
    with pytest.raises(LLMProviderOverloadedError, match="Overloaded") as caught:
        run(raw)
    assert caught.value.provider == "anthropic"
    assert caught.value.retryable
    rate = event({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}).encode()
    with pytest.raises(LLMRateLimitError, match="slow down"):
        run(body(message_start()) + rate)


@pytest.mark.parametrize(
    ("cut_after", "where"),
    [(0, "before message_start"), (3, "inside content block 0"), (5, "after message_start")],
)
def test_a_stream_without_message_stop_is_incomplete(cut_after: int, where: str) -> None:
    events = at_events(simple_text_body("a", "b"))
    with pytest.raises(LLMIncompleteStreamError, match=where):
        run(b"".join(events[:cut_after]))


def test_a_stream_cut_inside_the_last_json_is_incomplete() -> None:
    raw = simple_text_body("abc")
    with pytest.raises(LLMIncompleteStreamError, match="ended inside an event"):
        run(raw[: raw.rindex(b"message_stop") + 5])


TWO_TEXT_BLOCKS = [message_start(), block_start(0, {"type": "text"}), block_start(1, {"type": "text"})]


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ([message_start(), text(0, "x")], "block 0, which never started"),
        ([message_start(), block_start(0, {"type": "text"}), block_stop(0), text(0, "x")], "already stopped"),
        ([block_start(0, {"type": "text"})], "content_block_start before message_start"),
        ([text(0, "x")], "content_block_delta before message_start"),
        ([message_start(), message_start()], "a second message_start"),
        ([message_start(), MESSAGE_STOP, block_start(0, {"type": "text"})], "after message_stop"),
        ([message_start(), block_start(0, {"type": "text"}), MESSAGE_STOP], "block 0 is still open"),
        (
            [message_start(), block_start(0, {"type": "text"}), block_start(0, {"type": "text"})],
            "already started",
        ),
        ([message_start(), block_stop(3)], "block 3, which never started"),
        (
            [message_start(), block_start(0, {"type": "tool_use", "id": "t", "name": "f"}), text(0, "x")],
            "text_delta in block 0, which is not a text block",
        ),
        (
            [message_start(), block_start(0, {"type": "text"}), delta(0, {"type": "input_json_delta"})],
            "not a tool_use block",
        ),
        ([message_start(), {"type": "content_block_delta", "delta": {}}], "lacks the field 'index'"),
        ([message_start(), {"type": "content_block_start", "index": "0"}], "lacks the field 'content_block'"),
        ([message_start(), block_start(0, {"type": "text"}), text(0, 5)], "non-string text"),  # type: ignore[arg-type]
        ([message_start(input_tokens=-1)], "usage.input_tokens -1"),
        ([message_start(input_tokens=2**63)], "usage.input_tokens 9223372036854775808 is not a non-negative"),
        (
            [message_start(input_tokens=2**62, cache_read_input_tokens=2**62)],  # each fits, the sum does not
            "usage.prompt_tokens 9223372036854775808 is invalid",
        ),
        # True or 1.0 would find block 1 (an equal key): the delta or stop would land in it
        ([*TWO_TEXT_BLOCKS, text(True, "x")], "content_block_delta index True is not an integer index"),  # type: ignore[arg-type]
        ([*TWO_TEXT_BLOCKS, block_stop(1.0)], "content_block_stop index 1.0 is not an integer index"),  # type: ignore[arg-type]
        ([*TWO_TEXT_BLOCKS, text("1", "x")], "content_block_delta index '1' is not an integer index"),  # type: ignore[arg-type]
        ([message_start(), block_start("0", {"type": "text"})], "content_block_start index '0' is not"),  # type: ignore[arg-type]
        ([message_start(), {"type": "message_delta", "usage": "lots"}], "usage 'lots' is not an object"),
        (["[1, 2]"], "event has a field of the wrong shape"),
    ],
)
def test_out_of_order_or_broken_events_raise_malformed_stream_error(events: list[Any], problem: str) -> None:
    with pytest.raises(MalformedStreamError, match="anthropic messages stream") as caught:
        run(
            b"".join(
                event(e).encode() if not isinstance(e, str) else f"data: {e}\n\n".encode() for e in events
            )
        )
    assert problem in str(caught.value)


def test_invalid_json_names_the_data() -> None:
    with pytest.raises(MalformedStreamError, match="not valid JSON") as caught:
        run(b'event: message_start\ndata: {"type": "message_start", oops}\n\n')
    assert "oops" in str(caught.value)


def test_events_arrive_before_the_last_byte() -> None:
    raw = simple_text_body("first", "second")
    interface = AnthropicMessagesInterface()
    half = raw.index(b"second")
    assert [e.text for e in interface.feed(raw[:half]) if isinstance(e, TextDelta)] == ["first"]
    assert [e.text for e in interface.feed(raw[half:]) if isinstance(e, TextDelta)] == ["second"]
    interface.finish()
    assert interface.result().ttft_ms is not None


def test_non_streamed_message_gives_the_same_result_as_the_stream() -> None:
    message: dict[str, Any] = {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "EvMCCkYICxgCKkCHP2=="},
            {"type": "text", "text": "Answer"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    whole = AnthropicMessagesInterface.parse_response(json.dumps(message).encode())
    _, streamed = run(THINKING_BODY)
    assert whole.contract_dict() == streamed.contract_dict()
    assert whole.reasoning == streamed.reasoning

    message["content"] = [
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, "é"]}},
        {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
        {"type": "redacted_thinking", "data": "xyz"},
    ]
    result = AnthropicMessagesInterface.parse_response(message)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("toolu_1", "f", {"a": [1, "é"]})
    ]
    assert [b.data for b in result.hidden_reasoning] == ["xyz"]


def test_non_streamed_error_body_raises_the_mapped_error() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(LLMProviderOverloadedError):
        AnthropicMessagesInterface.parse_response(json.dumps(error).encode())
    with pytest.raises(MalformedStreamError, match="lacks the field 'content'"):
        AnthropicMessagesInterface.parse_response({"type": "message"})
    # each count fits in 63 bits, their sum (the prompt) does not: a project error, not pydantic's
    usage = {"input_tokens": 2**62, "cache_read_input_tokens": 2**62}
    with pytest.raises(MalformedStreamError, match=r"usage\.prompt_tokens 9223372036854775808 is invalid"):
        AnthropicMessagesInterface.parse_response({"type": "message", "content": [], "usage": usage})


RICH_BODY = body(
    message_start(input_tokens=50, cache_read_input_tokens=7, output_tokens=2),
    block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    delta(0, {"type": "thinking_delta", "thinking": "naïve — “quotes” \U0001f600"}),
    delta(0, {"type": "signature_delta", "signature": "c2ln"}),
    block_stop(0),
    block_start(1, {"type": "redacted_thinking", "data": "opaque"}),
    block_stop(1),
    block_start(2, {"type": "text", "text": ""}),
    *(text(2, piece) for piece in ["Ünïcödé ", "text\r\n", " with ", "\U0001f389 emoji"]),
    block_stop(2),
    block_start(3, {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {}}),
    delta(3, {"type": "input_json_delta", "partial_json": ""}),
    delta(3, {"type": "input_json_delta", "partial_json": '{"q": "caf\\u00e9'}),
    delta(3, {"type": "input_json_delta", "partial_json": ' ☕"}'}),
    block_stop(3),
    message_delta("tool_use", output_tokens=99),
    MESSAGE_STOP,
)


def _outcome(chunks: list[bytes]) -> tuple[list[dict[str, Any]], dict[str, object]]:
    events, result = run(chunks)
    return [e.model_dump() for e in events], result.contract_dict()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_chunk_boundaries_do_not_change_the_outcome(newline: str) -> None:
    raw = RICH_BODY.replace(b"\n", newline.encode())
    reference = _outcome([raw])
    assert reference[1]["text"] == "Ünïcödé text\r\n with \U0001f389 emoji"
    assert _outcome(at_events(raw)) == reference
    for seed in range(20):
        assert _outcome(at_random_offsets(raw, seed, mean_size=7)) == reference, seed
    assert _outcome(list(byte_by_byte(raw))) == reference


def _real_anthropic_streams() -> list[tuple[str, bytes]]:
    from streamproof.harness.cassette import load_cassette

    folder = REAL_CASSETTES / "pydantic-ai"
    if not folder.is_dir():
        return []
    streams = []
    for path in sorted(folder.rglob("*.yaml")):
        for index, interaction in enumerate(load_cassette(path).interactions):
            response = interaction.response
            if "/messages" in interaction.request.uri and "event-stream" in response.headers.get(
                "content-type", ""
            ):
                streams.append((f"{path.name}#{index}", response.body))
    return streams


def test_real_anthropic_streams_parse_identically_at_any_chunking() -> None:
    streams = _real_anthropic_streams()
    if not streams:
        pytest.skip(f"no real Anthropic cassettes under {REAL_CASSETTES}")
    for name, raw in streams:
        reference = _outcome([raw])
        assert reference[1]["stop_reason"] is not None, name
        for seed in range(3):
            assert _outcome(at_random_offsets(raw, seed, mean_size=64)) == reference, (name, seed)


def test_a_compatible_endpoint_is_named_in_its_errors() -> None:
    interface = AnthropicMessagesInterface(provider="minimax")
    interface.feed(body(message_start())[:20])
    with pytest.raises(
        LLMIncompleteStreamError, match="minimax messages stream ended before message_start"
    ) as cut:
        interface.finish()
    assert cut.value.provider == "minimax"
    error = event({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}).encode()
    with pytest.raises(LLMProviderOverloadedError) as overloaded:
        list(AnthropicMessagesInterface(provider="minimax").iter_events([error]))
    assert overloaded.value.provider == "minimax"
