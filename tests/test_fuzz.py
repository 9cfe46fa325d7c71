"""Fuzzing the three streaming interfaces: whatever the bytes, only streamproof's errors, with a message.

Random bytes, truncated valid streams, garbled bytes, events dropped / repeated / reordered, and
valid events with one field replaced or removed: each interface must either produce a result or
raise a ``StreamproofError`` subclass whose message says something, never another exception and
never a hang (inputs are bounded; a slow example fails). Also the non-streamed JSON path, and the
switches that read tool arguments. Examples are derandomized: the run is the same every time.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproof.adapters.errors import MalformedStreamError, StreamproofError
from streamproof.adapters.formats import interface_for_api
from streamproof.adapters.formats.base import StreamingInterface
from streamproof.adapters.framing.sse import SSEEvent

APIS = ["chat", "responses", "messages"]
SWITCHES: dict[str, Any] = {
    "use_assistant_message": True,
    "put_inner_thoughts_in_kwargs": True,
    "requires_approval_tools": ["search"],
}
SEND_ARGS = json.dumps({"inner_thoughts": 'hmm "ok" \\ \u2603', "message": "Hi \ud83d\ude00\n", "n": -1.5e3})


def _chat_events() -> list[tuple[str | None, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> Any:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {"id": "chatcmpl-1", "model": "gpt-4o", "choices": choices, "usage": usage}

    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "send_message", "arguments": ""},
    }
    return [
        (None, chunk({"role": "assistant", "content": None, "reasoning_content": "think"})),
        (None, chunk({"content": "Hello"})),
        (None, chunk({"content": " world"})),
        (None, chunk({"tool_calls": [call]})),
        (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": SEND_ARGS[:9]}}]})),
        (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": SEND_ARGS[9:]}}]})),
        (None, chunk({}, "tool_calls")),
        (None, {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}),
        (None, "[DONE]"),
    ]


def _responses_events() -> list[tuple[str | None, Any]]:
    response = {"id": "resp_1", "model": "gpt-5", "status": "in_progress", "output": []}
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "send_message",
        "arguments": "",
    }
    done_call = {**call, "arguments": SEND_ARGS}
    usage = {"input_tokens": 9, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 2}}
    completed = {**response, "status": "completed", "output": [done_call], "usage": usage}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response},
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "think"},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1, "delta": "Hello"},
        {"type": "response.output_item.added", "output_index": 2, "item": call},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 2,
            "delta": SEND_ARGS[:9],
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 2,
            "delta": SEND_ARGS[9:],
        },
        {"type": "response.output_item.done", "output_index": 2, "item": done_call},
        {"type": "response.completed", "response": completed},
    ]
    return [(e["type"], e) for e in events]


def _messages_events() -> list[tuple[str | None, Any]]:
    def block(index: int, content: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_start", "index": index, "content_block": content}

    def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": body}

    def stop(index: int) -> dict[str, Any]:
        return {"type": "content_block_stop", "index": index}

    usage = {
        "input_tokens": 9,
        "cache_read_input_tokens": 2,
        "cache_creation_input_tokens": 1,
        "output_tokens": 1,
    }
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {"id": "msg_1", "model": "claude", "content": [], "usage": usage},
        },
        block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "think"}),
        {"type": "ping"},
        delta(0, {"type": "signature_delta", "signature": "c2ln"}),
        stop(0),
        block(1, {"type": "redacted_thinking", "data": "opaque"}),
        stop(1),
        block(2, {"type": "text", "text": ""}),
        delta(2, {"type": "text_delta", "text": "Hello"}),
        stop(2),
        block(3, {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}}),
        delta(3, {"type": "input_json_delta", "partial_json": '{"q": 1}'}),
        stop(3),
        block(4, {"type": "tool_use", "id": "toolu_1", "name": "send_message", "input": {}}),
        delta(4, {"type": "input_json_delta", "partial_json": SEND_ARGS[:9]}),
        delta(4, {"type": "input_json_delta", "partial_json": SEND_ARGS[9:]}),
        stop(4),
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
    ]
    return [(e["type"], e) for e in events]


SEEDS = {"chat": _chat_events(), "responses": _responses_events(), "messages": _messages_events()}


def encode(events: list[tuple[str | None, Any]]) -> bytes:
    parts = []
    for name, payload in events:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        parts.append((f"event: {name}\n" if name else "") + f"data: {data}\n\n")
    return "".join(parts).encode()


def cut(raw: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(raw) + 1) for p in points} | {0, len(raw)})
    return [raw[a:b] for a, b in itertools.pairwise(marks)]


def check(api: str, chunks: list[bytes], switches: bool) -> None:
    """Feed the chunks and finish: a result, or a StreamproofError with a message. Nothing else."""
    interface = interface_for_api(api)(**(SWITCHES if switches else {}))
    started = time.perf_counter()
    try:
        for chunk in chunks:
            interface.feed(chunk)
        interface.finish()
        interface.result()
    except StreamproofError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
    assert time.perf_counter() - started < 5, "a small input must not take long"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
cut_points = st.lists(st.integers(min_value=0, max_value=100_000), max_size=6)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


apis = pytest.mark.parametrize("api", APIS)


@apis
@fuzz(70)
@given(raw=st.binary(max_size=400), points=cut_points, switches=st.booleans())
def test_random_bytes(api: str, raw: bytes, points: list[int], switches: bool) -> None:
    check(api, cut(raw, points), switches)


@apis
@fuzz(50)
@given(lines=st.lists(st.sampled_from(["event: x", "data: {", "data: }", "data: [DONE]", ":c", "", "data: {}"]) | st.text(max_size=30), max_size=12))  # fmt: skip
def test_random_sse_shaped_text(api: str, lines: list[str]) -> None:
    check(api, ["\n".join(lines).encode()], switches=False)


@apis
@fuzz(50)
@given(data=st.data(), points=cut_points, switches=st.booleans())
def test_truncated_valid_streams(api: str, data: st.DataObject, points: list[int], switches: bool) -> None:
    raw = encode(SEEDS[api])
    end = data.draw(st.integers(min_value=0, max_value=len(raw)), label="end")
    check(api, cut(raw[:end], points), switches)


@apis
@fuzz(60)
@given(data=st.data(), points=cut_points, switches=st.booleans())
def test_garbled_bytes(api: str, data: st.DataObject, points: list[int], switches: bool) -> None:
    raw = bytearray(encode(SEEDS[api]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="garbles")):
        at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="at")
        raw[at] = data.draw(st.sampled_from(list(b'{}[]",:\\\n0aZ\xff \x00')), label="byte")
    check(api, cut(bytes(raw), points), switches)


@apis
@fuzz(60)
@given(data=st.data(), switches=st.booleans())
def test_events_dropped_repeated_or_out_of_order(api: str, data: st.DataObject, switches: bool) -> None:
    seed = SEEDS[api]
    order = data.draw(
        st.lists(st.integers(min_value=0, max_value=len(seed) - 1), max_size=2 * len(seed)), label="order"
    )
    check(api, [encode([seed[i] for i in order])], switches)


class _LooseInterface(StreamingInterface):  # type: ignore[misc]  # mypy sees the mapped package as Any
    """Takes ``model`` from each event without checking its type, as a careless subclass would."""

    provider = "loose"
    api = "chat"

    def _on_sse(self, sse: SSEEvent, tail: bool = False) -> None:
        self.model = self._loads(sse[1], tail)["model"]

    def _on_eof(self) -> None:
        pass


def test_a_result_field_of_the_wrong_type_is_a_malformed_stream_not_a_validation_error() -> None:
    interface = _LooseInterface()
    interface.feed(b'data: {"model": [[], {}]}\n\n')
    interface.finish()
    with pytest.raises(MalformedStreamError, match=r"loose chat stream: model \[\[\], \{\}\] is invalid"):
        interface.result()


def _mutate(value: Any, data: st.DataObject) -> Any:
    """The same event with one field, somewhere inside it, removed or replaced by random JSON."""
    if not isinstance(value, (dict, list)) or not value or data.draw(st.integers(0, 3), label="stop") == 0:
        return data.draw(json_values, label="replacement")
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = data.draw(st.sampled_from(keys), label="key")
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if isinstance(copy, dict) and data.draw(st.booleans(), label="remove"):
        del copy[key]
    else:
        copy[key] = _mutate(copy[key], data)
    return copy


@apis
@fuzz(100)
@given(data=st.data(), switches=st.booleans())
def test_valid_events_with_a_field_replaced_or_removed(api: str, data: st.DataObject, switches: bool) -> None:
    seed = list(SEEDS[api])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        index = data.draw(st.integers(min_value=0, max_value=len(seed) - 1), label="event")
        name, payload = seed[index]
        if isinstance(payload, dict):
            seed[index] = (name, _mutate(payload, data))
    check(api, [encode(seed)], switches)


@apis
@fuzz(30)
@given(body=json_values | st.dictionaries(st.sampled_from(["type", "content", "choices", "output", "usage", "error", "status", "stop_reason"]), json_values, max_size=5))  # fmt: skip
def test_non_streamed_json_bodies(api: str, body: Any) -> None:
    try:
        interface_for_api(api).parse_response(json.dumps(body).encode())
    except StreamproofError as exc:
        assert str(exc).strip()
