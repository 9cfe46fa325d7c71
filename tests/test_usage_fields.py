"""Usage fields real providers send, read alike by the reference stack, the oracle and the
independent reader (REAL-STREAMS.md, "More facts" §1), on small synthetic bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from independent_reader import read

from streamproof.adapters.formats import interface_for_api
from streamproof.conformance.oracle import expected_for


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def messages_body(start_usage: dict[str, Any], end_usage: dict[str, Any]) -> bytes:
    return sse(
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": start_usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": end_usage},
        {"type": "message_stop"},
    )


def responses_body(usage: dict[str, Any]) -> bytes:
    response = {"id": "resp_1", "status": "completed", "model": "gpt-x", "output": [], "usage": usage}
    return sse(
        {"type": "response.output_text.delta", "delta": "Hi", "output_index": 0},
        {"type": "response.completed", "response": response},
    )


def three_readings(api: str, body: bytes) -> list[dict[str, int | None]]:
    """The usage as the reference interface, the oracle and the independent reader read it."""
    interface = interface_for_api(api)(message_id="m")
    list(interface.iter_events([body]))
    stack = interface.result().usage.public_dict()
    oracle = expected_for(api, 200, body).usage
    independent = read(api, 200, "text/event-stream", body)["usage"]
    return [stack, oracle, independent]


def test_anthropic_thinking_tokens_are_the_reasoning_count() -> None:
    body = messages_body(
        {"input_tokens": 40, "output_tokens": 1},
        {"output_tokens": 145, "output_tokens_details": {"thinking_tokens": 47}},
    )
    for usage in three_readings("messages", body):
        assert (usage["completion_tokens"], usage["reasoning_tokens"]) == (145, 47)


def test_anthropic_without_thinking_tokens_reports_no_reasoning_count() -> None:
    body = messages_body({"input_tokens": 40, "output_tokens": 1}, {"output_tokens": 9})
    for usage in three_readings("messages", body):
        assert usage["reasoning_tokens"] is None  # not reported, which is not 0


def test_responses_cache_write_tokens_are_the_cache_write_count() -> None:
    usage = {
        "input_tokens": 1300,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 1217},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 1309,
    }
    for reading in three_readings("responses", responses_body(usage)):
        assert (reading["cached_input_tokens"], reading["cache_write_tokens"]) == (0, 1217)


@pytest.mark.parametrize("thinking", [-1, "47", 4.5])
def test_a_thinking_count_that_is_not_a_count_is_malformed(thinking: object) -> None:
    from streamproof.adapters.errors import MalformedStreamError

    body = messages_body(
        {"input_tokens": 40, "output_tokens": 1},
        {"output_tokens": 9, "output_tokens_details": {"thinking_tokens": thinking}},
    )
    interface = interface_for_api("messages")(message_id="m")
    with pytest.raises(MalformedStreamError, match="thinking_tokens"):
        list(interface.iter_events([body]))


def test_per_iteration_usage_counts_what_is_billed_every_iteration() -> None:
    """A compaction stream: the top level counts only the final message pass (181 input tokens);
    the compaction pass read 55,096 cached tokens too, and that is billed."""
    iterations = [
        {"type": "compaction", "input_tokens": 100, "output_tokens": 83, "cache_read_input_tokens": 55096,
         "cache_creation_input_tokens": 0},
        {"type": "message", "input_tokens": 181, "output_tokens": 8, "cache_read_input_tokens": 0,
         "cache_creation_input_tokens": 0},
        {"type": "advisor_message", "model": "claude-other", "input_tokens": 2543, "output_tokens": 18},
    ]  # fmt: skip
    body = messages_body(
        {"input_tokens": 181, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "output_tokens": 1},
        {"input_tokens": 181, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
         "output_tokens": 8, "iterations": iterations},
    )  # fmt: skip
    for usage in three_readings("messages", body):
        assert usage["prompt_tokens"] == 100 + 55096 + 181 + 2543
        assert usage["cached_input_tokens"] == 55096
        assert usage["completion_tokens"] == 83 + 8 + 18
        assert usage["total_tokens"] == 100 + 55096 + 181 + 2543 + 83 + 8 + 18


def test_without_iterations_the_top_level_counters_stand() -> None:
    body = messages_body({"input_tokens": 40, "output_tokens": 1}, {"output_tokens": 9})
    for usage in three_readings("messages", body):
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (40, 9)


@pytest.mark.parametrize(
    ("iterations", "problem"),
    [
        ("many", "usage.iterations 'many' is not a list"),
        ([{"input_tokens": -3}], "iterations\\[0\\].input_tokens"),
    ],
)
def test_malformed_iterations_are_malformed(iterations: object, problem: str) -> None:
    from streamproof.adapters.errors import MalformedStreamError

    body = messages_body(
        {"input_tokens": 40, "output_tokens": 1}, {"output_tokens": 9, "iterations": iterations}
    )
    interface = interface_for_api("messages")(message_id="m")
    with pytest.raises(MalformedStreamError, match=problem):
        list(interface.iter_events([body]))
