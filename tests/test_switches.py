"""The original's switches on all three wire formats: use_assistant_message, put_inner_thoughts_in_kwargs,
requires_approval_tools. Small synthetic bodies, each cut into fragments at awkward places."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from streamproof.adapters.errors import MalformedStreamError
from streamproof.adapters.events import (
    ApprovalRequest,
    LLMResult,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from streamproof.adapters.formats import interface_for_api
from streamproof.harness.rechunk import at_random_offsets

Call = tuple[str, str, list[str]]  # id, name, argument fragments

MESSAGE = 'Hello "there"\nworld \\ \U0001f600 café'
THOUGHTS = 'User said "hi" — answer ☃'
SEND_ARGS = json.dumps({"inner_thoughts": THOUGHTS, "message": MESSAGE, "request_heartbeat": False})
SEARCH_ARGS = json.dumps({"query": 'a "b"', "inner_thoughts": "look it up\\now", "limit": 1e3})


def fragments(arguments: str, size: int) -> list[str]:
    # Fixed-size pieces land inside escapes, \\u sequences and surrogate pairs.
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def sse(name: str | None, payload: dict[str, Any]) -> str:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(payload)}\n\n"


def anthropic_body(calls: list[Call]) -> bytes:
    out = [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 3}},
            },
        ),
        sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
        ),
        sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "native"},
            },
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    for block, (call_id, name, pieces) in enumerate(calls, start=1):
        start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        out.append(
            sse(
                "content_block_start", {"type": "content_block_start", "index": block, "content_block": start}
            )
        )
        for piece in pieces:
            piece_delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(
                sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": block, "delta": piece_delta},
                )
            )
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": block}))
    out.append(sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}}))
    out.append(sse("message_stop", {"type": "message_stop"}))
    return "".join(out).encode()


def chat_body(calls: list[Call]) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse(None, {"id": "chatcmpl-1", "model": "gpt", "choices": [choice]})

    out = [chunk({"role": "assistant", "content": None, "reasoning_content": "native"})]
    for index, (call_id, name, pieces) in enumerate(calls):
        function = {"name": name, "arguments": ""}
        out.append(
            chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]})
        )
        for piece in pieces:
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    out.append(chunk({}, "tool_calls"))
    return ("".join(out) + "data: [DONE]\n\n").encode()


def responses_body(calls: list[Call]) -> bytes:
    response = {"id": "resp_1", "model": "gpt", "status": "in_progress", "output": []}
    out = [
        sse("response.created", {"type": "response.created", "response": response}),
        sse(
            "response.reasoning_summary_text.delta",
            {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "native"},
        ),
    ]
    items = []
    for position, (call_id, name, pieces) in enumerate(calls, start=1):
        item = {
            "type": "function_call",
            "id": f"fc_{position}",
            "call_id": call_id,
            "name": name,
            "arguments": "",
        }
        added = {"type": "response.output_item.added", "output_index": position, "item": item}
        out.append(sse("response.output_item.added", added))
        for piece in pieces:
            args_delta = {
                "type": "response.function_call_arguments.delta",
                "item_id": f"fc_{position}",
                "output_index": position,
                "delta": piece,
            }
            out.append(sse("response.function_call_arguments.delta", args_delta))
        done_item = {**item, "arguments": "".join(pieces)}
        items.append(done_item)
        done = {"type": "response.output_item.done", "output_index": position, "item": done_item}
        out.append(sse("response.output_item.done", done))
    completed = {**response, "status": "completed", "output": items}
    out.append(sse("response.completed", {"type": "response.completed", "response": completed}))
    return "".join(out).encode()


FORMATS: dict[str, Callable[[list[Call]], bytes]] = {
    "messages": anthropic_body,
    "chat": chat_body,
    "responses": responses_body,
}

CALLS: list[Call] = [
    ("call_search", "search", fragments(SEARCH_ARGS, 5)),
    ("call_send", "send_message", fragments(SEND_ARGS, 3)),
]


def run(api: str, calls: list[Call] = CALLS, **switches: Any) -> tuple[list[StreamEvent], LLMResult]:
    raw = FORMATS[api](calls)
    outcomes = []
    for chunks in ([raw], at_random_offsets(raw, seed=1, mean_size=11)):
        interface = interface_for_api(api)(message_id="m", **switches)
        events = list(interface.iter_events(chunks))
        outcomes.append(([e.model_dump() for e in events], events, interface.result()))
    assert outcomes[0][0] == outcomes[1][0], "the switches must not depend on the chunking"
    return outcomes[0][1], outcomes[0][2]


def tool_deltas(events: list[StreamEvent]) -> dict[str, str]:
    """Arguments per tool name, joined from ToolCallDelta events."""
    names: dict[int, str] = {}
    joined: dict[str, str] = {}
    for e in events:
        if isinstance(e, ToolCallDelta):
            name = names.setdefault(e.index, e.name or "")
            joined[name] = joined.get(name, "") + e.arguments
    return joined


apis = pytest.mark.parametrize("api", list(FORMATS))


@apis
def test_without_switches_send_message_is_an_ordinary_tool_call(api: str) -> None:
    events, result = run(api)
    assert tool_deltas(events) == {"search": SEARCH_ARGS, "send_message": SEND_ARGS}
    assert result.text == ""
    assert result.reasoning_text == "native"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_search", "search", SEARCH_ARGS),
        ("call_send", "send_message", SEND_ARGS),
    ]


@apis
def test_use_assistant_message_streams_the_message_argument_as_text(api: str) -> None:
    events, result = run(api, use_assistant_message=True)
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(texts) == MESSAGE
    assert len(texts) > 5, "the message must stream while it is written, not at the end"
    assert tool_deltas(events) == {"search": SEARCH_ARGS}, "send_message yields no ToolCallDelta"
    assert result.text == MESSAGE
    # As in Letta, the agent loop still gets the call (arguments exactly as streamed) to run it.
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("search", SEARCH_ARGS),
        ("send_message", SEND_ARGS),
    ]
    assert result.reasoning_text == "native", "inner_thoughts stay in the arguments without the other switch"


@apis
def test_put_inner_thoughts_in_kwargs_streams_them_as_reasoning_per_call(api: str) -> None:
    events, result = run(api, put_inner_thoughts_in_kwargs=True)
    reasoning = [e for e in events if isinstance(e, ReasoningDelta)]
    by_block: dict[int, str] = {}
    for e in reasoning:
        by_block[e.block] = by_block.get(e.block, "") + e.text
    assert list(by_block.values()) == ["native", "look it up\\now", THOUGHTS]
    assert len(set(by_block)) == 3, "each call's inner thoughts get a reasoning block of their own"
    assert [b.text for b in result.reasoning] == ["native", "look it up\\now", THOUGHTS]
    # The tool calls themselves are untouched: raw deltas, arguments exactly as streamed.
    assert tool_deltas(events) == {"search": SEARCH_ARGS, "send_message": SEND_ARGS}
    assert [c.arguments for c in result.tool_calls] == [SEARCH_ARGS, SEND_ARGS]
    assert result.text == ""


@apis
def test_both_switches_together(api: str) -> None:
    events, result = run(api, use_assistant_message=True, put_inner_thoughts_in_kwargs=True)
    assert result.text == MESSAGE
    assert [b.text for b in result.reasoning] == ["native", "look it up\\now", THOUGHTS]
    assert tool_deltas(events) == {"search": SEARCH_ARGS}
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    last_thought = max(
        i for i, e in enumerate(events) if isinstance(e, ReasoningDelta) and e.text in THOUGHTS
    )
    assert last_thought < first_text, "inner_thoughts come first in the arguments, so they stream first"


@apis
def test_requires_approval_tools_stream_approval_requests(api: str) -> None:
    events, result = run(api, requires_approval_tools=["search"])
    approvals = [e for e in events if isinstance(e, ApprovalRequest)]
    assert approvals and all(e.index == approvals[0].index for e in approvals)
    assert (approvals[0].id, approvals[0].name) == ("call_search", "search")
    assert "".join(e.arguments for e in approvals) == SEARCH_ARGS
    assert tool_deltas(events) == {"send_message": SEND_ARGS}
    assert [(c.name, c.requires_approval) for c in result.tool_calls] == [
        ("search", True),
        ("send_message", False),
    ]


@apis
def test_a_switch_reading_broken_arguments_fails_the_stream(api: str) -> None:
    broken: list[Call] = [("call_send", "send_message", ['{"message": "a', '\\q"}'])]
    with pytest.raises(MalformedStreamError, match=r"invalid escape '\\q'"):
        run(api, broken, use_assistant_message=True)
    # Without a switch the arguments are forwarded untouched, for the caller to judge.
    _, result = run(api, broken)
    assert [c.arguments for c in result.tool_calls] == ['{"message": "a\\q"}']
