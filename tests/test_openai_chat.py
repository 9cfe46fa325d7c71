"""OpenAI Chat Completions interface: the quirks of REAL-STREAMS.md §3 on small synthetic bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproof.adapters.errors import (
    LLMBadRequestError,
    LLMEmptyResponseError,
    LLMIncompleteStreamError,
    LLMRateLimitError,
    LLMServerError,
    MalformedStreamError,
    StreamproofError,
)
from streamproof.adapters.events import RefusalDelta, StopReason, TextDelta, ToolCallDelta
from streamproof.adapters.formats.openai_chat import OpenAIChatInterface
from streamproof.harness.rechunk import byte_by_byte


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-test",
        "choices": choices,
        **top,
    }


def sse(*chunks: dict[str, Any], done: bool = True, newline: str = "\n") -> bytes:
    lines = [f"data: {json.dumps(c)}{newline}{newline}" for c in chunks]
    if done:
        lines.append(f"data: [DONE]{newline}{newline}")
    return "".join(lines).encode()


def replay(
    body: bytes, chunks: list[bytes] | None = None, **switches: Any
) -> tuple[OpenAIChatInterface, list[Any]]:
    interface = OpenAIChatInterface(**switches)
    events = list(interface.iter_events(chunks if chunks is not None else [body]))
    return interface, events


USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 5,
    "total_tokens": 25,
    "prompt_tokens_details": {"cached_tokens": 8},
    "completion_tokens_details": {"reasoning_tokens": 2},
}


def test_text_then_usage_only_chunk_then_moderation_chunk() -> None:
    body = sse(
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, finish="stop"),
        chunk(None, usage=USAGE),
        chunk(None, moderation={"input": {"results": []}}),
    )
    interface, events = replay(body)
    result = interface.result()
    assert result.text == "Hello"
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert (result.stop_reason, result.provider_stop_reason) == ("end_turn", "stop")
    assert result.usage.prompt_tokens == 20 and result.usage.cached_input_tokens == 8
    assert result.usage.reasoning_tokens == 2 and result.usage.total_tokens == 25
    assert result.model == "gpt-test" and result.response_id == "chatcmpl-1"
    assert isinstance(events[-1], StopReason)


def test_null_and_empty_content_are_no_text() -> None:
    body = sse(
        chunk({"role": "assistant", "content": None}), chunk({"content": ""}), chunk({}, finish="stop")
    )
    interface, events = replay(body)
    assert interface.result().text == ""
    assert not [e for e in events if isinstance(e, TextDelta)]


def test_usage_on_every_chunk_is_overwritten_not_summed() -> None:
    first = {
        "prompt_tokens": 10,
        "completion_tokens": 1,
        "total_tokens": 11,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    last = {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    body = sse(
        chunk({"content": "a"}, usage=first),
        chunk({"content": "b"}, usage=first),
        chunk({}, "stop", usage=last),
    )
    usage = replay(body)[0].result().usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_input_tokens) == (10, 3, 4)


def test_groq_usage_in_x_groq_and_whole_tool_call_in_one_delta_with_index_last() -> None:
    call = {
        "id": "fc_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q":"x"}'},
        "index": 0,
    }
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning": "thinking", "channel": "analysis"}),
        chunk({"tool_calls": [call]}),
        chunk(
            {},
            "tool_calls",
            x_groq={"usage": {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}},
        ),
    )
    result = replay(body)[0].result()
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("fc_1", "lookup", '{"q":"x"}')]
    assert result.reasoning_text == "thinking"
    assert result.usage.total_tokens == 16 and result.usage.cached_input_tokens is None
    assert result.stop_reason == "tool_calls"


def test_parallel_tool_calls_identity_on_first_delta_only() -> None:
    def tc(index: int, args: str, ident: str | None = None, name: str | None = None) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
        if ident:
            call.update(id=ident, type="function")
            call["function"]["name"] = name
        return {"tool_calls": [call]}

    body = sse(
        chunk({"role": "assistant", "content": None, **tc(0, "", "call_a", "get_weather")}),
        chunk(tc(0, '{"ci')),
        chunk(tc(0, 'ty":"Paris"}')),
        chunk(tc(1, "", "call_b", "get_time")),
        chunk(tc(1, "{}")),
        chunk({}, "tool_calls"),
    )
    interface, events = replay(body)
    result = interface.result()
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {}),
    ]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.id, d.arguments) for d in deltas] == [
        (0, "call_a", ""),
        (0, None, '{"ci'),
        (0, None, 'ty":"Paris"}'),
        (1, "call_b", ""),
        (1, None, "{}"),
    ]


def test_refusal_deltas_give_refusal_stop_reason() -> None:
    body = sse(
        chunk({"role": "assistant", "refusal": ""}),
        chunk({"refusal": "I can't"}),
        chunk({"refusal": " help."}),
        chunk({}, "stop"),
    )
    interface, events = replay(body)
    result = interface.result()
    assert result.refusal == "I can't help." and result.text == ""
    assert [e.text for e in events if isinstance(e, RefusalDelta)] == ["I can't", " help."]
    assert (result.stop_reason, result.provider_stop_reason) == ("refusal", "stop")


@pytest.mark.parametrize(
    ("word", "normalized"),
    [
        ("length", "max_tokens"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("eos", "other"),
    ],
)
def test_finish_reason_mapping_keeps_provider_word(word: str, normalized: str) -> None:
    result = replay(sse(chunk({"content": "x"}), chunk({}, word)))[0].result()
    assert (result.stop_reason, result.provider_stop_reason) == (normalized, word)


def test_deepseek_reasoning_content_and_openrouter_reasoning_details_not_double_counted() -> None:
    deepseek = sse(
        chunk({"content": None, "reasoning_content": "Let me"}),
        chunk({"reasoning_content": " see"}),
        chunk({"content": "4"}, "stop"),
    )
    assert replay(deepseek)[0].result().reasoning_text == "Let me see"
    detail = {"type": "reasoning.text", "text": "Step", "format": "anthropic-claude-v1", "index": 0}
    openrouter = sse(
        chunk({"content": "", "reasoning": "Step", "reasoning_details": [detail]}),
        chunk(
            {
                "content": "",
                "reasoning": None,
                "reasoning_details": [{"type": "reasoning.text", "signature": "sig=="}],
            }
        ),
        chunk(
            {
                "content": "",
                "reasoning": None,
                "reasoning_details": [{"type": "reasoning.encrypted", "data": "enc"}],
            }
        ),
        chunk({"content": "ok"}, "stop"),
    )
    result = replay(openrouter)[0].result()
    assert result.reasoning_text == "Step"
    assert result.reasoning[0].signature == "sig=="
    assert [(h.state, h.data) for h in result.hidden_reasoning] == [("redacted", "enc")]


def test_groq_error_event_raises_mapped_error() -> None:
    error = {
        "error": {
            "message": "Tool call validation failed",
            "type": "invalid_request_error",
            "code": "tool_use_failed",
            "status_code": 400,
        }
    }
    body = (
        sse(chunk({"reasoning": "."}), done=False) + f"event: error\ndata: {json.dumps(error)}\n\n".encode()
    )
    with pytest.raises(LLMBadRequestError, match="Tool call validation failed") as info:
        replay(body)
    assert info.value.status == 400 and info.value.code == "tool_use_failed"


def test_openrouter_error_object_inside_a_chunk_raises() -> None:
    body = sse(
        chunk({"reasoning": "We"}, "length"),
        {**chunk({"content": ""}), "error": {"code": 429, "message": "Upstream rate limited"}},
    )
    with pytest.raises(LLMRateLimitError, match="Upstream rate limited"):
        replay(body)


def test_crlf_framing_comments_and_no_space_after_colon() -> None:
    body = b": OPENROUTER PROCESSING\r\n\r\n" * 3 + sse(
        chunk({"content": "A"}), chunk({}, "stop"), newline="\r\n"
    )
    body = body.replace(b"data: {", b"data:{", 1)
    interface, _ = replay(body, list(byte_by_byte(body)))
    assert interface.result().text == "A"


def test_missing_done_is_incomplete_even_after_finish_reason() -> None:
    with pytest.raises(LLMIncompleteStreamError, match=r"without data: \[DONE\] after finish_reason 'stop'"):
        replay(sse(chunk({"content": "A"}), chunk({}, "stop"), done=False))
    with pytest.raises(LLMIncompleteStreamError, match="ended without"):
        replay(sse(chunk({"content": "A"}), done=False))


def test_cut_inside_an_event_is_incomplete() -> None:
    body = sse(chunk({"content": "A"}), done=False) + b'data: {"id":"chatcmpl-1","choi'
    with pytest.raises(LLMIncompleteStreamError, match="ended inside an event"):
        replay(body)


def test_bad_json_is_malformed_with_clear_message() -> None:
    body = b'data: {"id": nope}\n\n' + sse(chunk({}, "stop"))
    with pytest.raises(MalformedStreamError, match=r"not valid JSON.*nope"):
        replay(body)


def test_wrong_shape_is_malformed_not_a_type_error() -> None:
    with pytest.raises(MalformedStreamError, match=r"tool_calls\[0\].index 'zero' is not an integer index"):
        replay(sse({"id": "x", "choices": [{"delta": {"tool_calls": [{"index": "zero"}]}}]}))
    with pytest.raises(MalformedStreamError, match="unexpected chunk shape"):
        replay(b"data: [1, 2]\n\n" + sse())


def test_done_without_any_choice_is_an_empty_response() -> None:
    with pytest.raises(LLMEmptyResponseError):
        replay(sse(chunk(None, usage=USAGE)))


def test_non_streamed_completion_gives_the_same_result_type() -> None:
    body = {
        "id": "chatcmpl-9",
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "a", "arguments": '{"x":1}'},
                        },
                        {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE,
    }
    result = OpenAIChatInterface.parse_response(json.dumps(body).encode())
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_1", "a", '{"x":1}'),
        ("call_2", "b", "{}"),
    ]
    assert result.stop_reason == "tool_calls" and result.usage.cached_input_tokens == 8
    assert result.response_id == "chatcmpl-9"


def test_first_event_comes_before_the_end_of_the_bytes() -> None:
    body = sse(chunk({"content": "A"}), chunk({"content": "B"}), chunk({}, "stop"))
    interface = OpenAIChatInterface()
    first = interface.feed(body[: body.index(b"\n\n") + 2])
    assert [e.text for e in first if isinstance(e, TextDelta)] == ["A"]


def test_events_before_a_mid_stream_error_come_out_before_the_error() -> None:
    error = {"error": {"message": "boom", "type": "server_error", "status_code": 500}}
    body = sse(chunk({"content": "A"}), done=False) + f"event: error\ndata: {json.dumps(error)}\n\n".encode()
    interface = OpenAIChatInterface()
    assert [e.text for e in interface.feed(body) if isinstance(e, TextDelta)] == ["A"]
    with pytest.raises(LLMServerError, match="boom"):
        interface.finish()
    with pytest.raises(LLMServerError, match="boom"):
        OpenAIChatInterface().feed(body[body.index(b"event: error") :])  # nothing before it: raised at once


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
DELTA_FIELDS = st.sampled_from(
    [
        "content",
        "refusal",
        "reasoning",
        "reasoning_content",
        "reasoning_details",
        "tool_calls",
        "function_call",
        "role",
    ]
)
TOOL_CALL = st.fixed_dictionaries(
    {},
    optional={
        "index": JSON_VALUES,
        "id": JSON_VALUES,
        "function": st.dictionaries(st.sampled_from(["name", "arguments"]), JSON_VALUES),
    },
)
DELTAS = st.dictionaries(DELTA_FIELDS, JSON_VALUES | st.lists(TOOL_CALL, max_size=2), max_size=3)
CHUNKS = st.fixed_dictionaries(
    {"choices": st.lists(st.fixed_dictionaries({"delta": DELTAS, "finish_reason": JSON_VALUES}), max_size=1)},
    optional={"usage": JSON_VALUES, "x_groq": JSON_VALUES, "error": JSON_VALUES, "id": JSON_VALUES},
)


@settings(max_examples=100, deadline=None)
@given(st.lists(CHUNKS, max_size=5), st.booleans(), st.integers(0, 400))
def test_fuzzed_chunks_raise_only_project_errors(chunks: list[dict[str, Any]], done: bool, cut: int) -> None:
    body = sse(*chunks, done=done)
    for data in (body, body[:cut]):
        try:
            replay(data)[0].result()
        except StreamproofError as exc:
            assert str(exc)


def test_mistral_list_shaped_content_with_thinking_parts() -> None:
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "Let me think"}]}
    body = sse(
        chunk({"role": "assistant", "content": [thinking]}),
        chunk({"content": [{"type": "text", "text": "Answer"}]}),
        chunk({"content": " done"}, "stop"),
    )
    result = replay(body)[0].result()
    assert (result.reasoning_text, result.text) == ("Let me think", "Answer done")


def test_only_choice_zero_is_read_when_n_is_above_one() -> None:
    def other(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**chunk(None), "choices": [{"index": 1, "delta": delta, "finish_reason": finish}]}

    body = sse(chunk({"content": "A"}), other({"content": "B"}), other({}, "length"), chunk({}, "stop"))
    result = replay(body)[0].result()
    assert (result.text, result.provider_stop_reason) == ("A", "stop")


def test_an_id_or_model_that_is_not_a_string_is_malformed() -> None:
    with pytest.raises(MalformedStreamError, match="model 42 is not a string"):
        replay(sse({**chunk({"content": "A"}, "stop"), "model": 42}))


def test_a_list_of_events_once_returned_is_never_filled_later() -> None:
    interface = OpenAIChatInterface()
    line = b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    waiting = interface.feed(line[:10])  # no whole line yet
    events = interface.feed(line[10:])
    assert waiting == [] and [type(e) for e in events] == [TextDelta]
    interface.feed(line)
    assert [type(e) for e in events] == [TextDelta] and waiting == []


def tool_chunk(index: object, **call: Any) -> dict[str, Any]:
    return chunk({"tool_calls": [{"index": index, **call}]})


@pytest.mark.parametrize("index", ["0", True, 0.0])
def test_a_tool_call_index_that_is_not_an_int_is_malformed(index: object) -> None:
    # "0" then 0 were two calls in the result while the events (index coerced to 0) showed one
    first = tool_chunk(index, id="call_1", function={"name": "f", "arguments": "{"})
    body = sse(first, tool_chunk(0, function={"arguments": "}"}), chunk({}, finish="tool_calls"))
    with pytest.raises(
        MalformedStreamError, match=r"chat stream: tool_calls\[0\].index .* is not an integer index"
    ):
        replay(body)[0].result()


@pytest.mark.parametrize("index", ["0", False, 0.0])
def test_a_choice_index_that_is_not_an_int_is_malformed(index: object) -> None:
    body = sse({**chunk({"content": "hi"}), "choices": [{"index": index, "delta": {"content": "hi"}}]})
    with pytest.raises(MalformedStreamError, match=r"choices\[0\].index .* is not an integer index"):
        replay(body)
    second = {"index": "1", "delta": {"content": "other"}}  # a later choice is checked as well
    body = sse({**chunk({"content": "hi"}), "choices": [{"index": 0, "delta": {"content": "hi"}}, second]})
    with pytest.raises(MalformedStreamError, match=r"choices\[1\].index '1' is not an integer index"):
        replay(body)
