"""Every Chat / Responses / Messages interaction of the real recorded cassettes, through the stack.

- each outcome agrees with ``independent_reader`` (text, reasoning, tool calls with parsed
  arguments, usage, provider stop reason), and expected errors come out as the right class;
- each streamed body gives the same result and events however it is cut (whole, at events,
  seeded random offsets, one byte at a time);
- the interfaces stream for real: the first event is yielded before the last chunk arrives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from independent_reader import read

from streamproof.adapters.errors import (
    LLMAuthenticationError,
    LLMBadRequestError,
    LLMError,
    LLMNotFoundError,
    LLMPermissionDeniedError,
    LLMRateLimitError,
    LLMServerError,
)
from streamproof.adapters.events import TextDelta
from streamproof.adapters.formats import interface_for_api
from streamproof.harness.cassette import Interaction, load_cassette
from streamproof.harness.outcome import Outcome, replay_interaction
from streamproof.harness.rechunk import at_events, at_random_offsets, byte_by_byte

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes"
APIS = ("chat", "responses", "messages")


def real_interactions() -> list[Any]:
    if not REAL.is_dir():
        return []
    found = []
    for path in sorted(REAL.rglob("*.yaml")):
        for interaction in load_cassette(path).interactions:
            if interaction.api in APIS:
                found.append(pytest.param(interaction, id=f"{path.relative_to(REAL)}#{interaction.index}"))
    return found


INTERACTIONS = real_interactions()
STREAMED = [p for p in INTERACTIONS if p.values[0].response.is_sse and p.values[0].response.status < 400]

ERROR_BY_CODE: dict[str, type[LLMError]] = {
    "model_not_found": LLMNotFoundError,
    "not_found_error": LLMNotFoundError,
}
ERROR_BY_STATUS: dict[int, type[LLMError]] = {
    400: LLMBadRequestError,
    401: LLMAuthenticationError,
    403: LLMPermissionDeniedError,
    404: LLMNotFoundError,
    429: LLMRateLimitError,
}


def expected_error_class(error: dict[str, Any]) -> type[LLMError]:
    by_code = ERROR_BY_CODE.get(str(error["code"]))
    if by_code is not None:
        return by_code
    return ERROR_BY_STATUS.get(error["status"] or 0, LLMServerError)


def test_the_real_set_is_present_or_skipped() -> None:
    if not REAL.is_dir():
        pytest.skip("../shared/real-cassettes is not present")
    assert {p.values[0].api for p in STREAMED} == set(APIS)
    mid_stream_errors = [
        p.values[0].request.host
        for p in STREAMED
        if read(p.values[0].api, 200, "text/event-stream", p.values[0].response.body)["error"] is not None
    ]
    assert sorted(mid_stream_errors) == [
        "api.groq.com",
        "openrouter.ai",
    ]  # Groq event: error, OpenRouter in-chunk


@pytest.mark.parametrize("interaction", INTERACTIONS)
def test_outcome_agrees_with_the_independent_reader(interaction: Interaction) -> None:
    response = interaction.response
    expected = read(interaction.api, response.status, response.content_type, response.body)
    outcome = replay_interaction(interaction)
    if expected["error"] is not None:
        assert outcome.result is None
        assert isinstance(outcome.error, expected_error_class(expected["error"])), repr(outcome.error)
        return
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    result = outcome.result
    assert result is not None
    assert result.text == expected["text"]
    assert result.reasoning_text == expected["reasoning"]
    assert [(c.name, json.loads(c.arguments or "{}")) for c in result.tool_calls] == expected["tool_calls"]
    assert result.usage.public_dict() == expected["usage"]
    assert result.provider_stop_reason == expected["provider_stop_reason"]


def comparable(outcome: Outcome) -> tuple[Any, ...]:
    """The outcome minus what legitimately differs between runs: timings and generated ids."""
    result = (
        outcome.result.model_dump(exclude={"message_id", "ttft_ms", "latency_ms"}) if outcome.result else None
    )
    events = [e.model_dump(exclude={"message_id", "event_id"}) for e in outcome.events]
    error = (type(outcome.error).__name__, str(outcome.error)) if outcome.error else None
    return result, events, error


@pytest.mark.parametrize("interaction", STREAMED)
def test_result_is_the_same_however_the_body_is_cut(interaction: Interaction) -> None:
    body = interaction.response.body
    whole = comparable(replay_interaction(interaction, chunks=[body]))
    assert whole[0] is not None or whole[2] is not None
    assert comparable(replay_interaction(interaction, chunks=at_events(body))) == whole
    for seed in (1, 2, 3):
        assert comparable(replay_interaction(interaction, chunks=at_random_offsets(body, seed))) == whole, (
            seed
        )
    assert comparable(replay_interaction(interaction, chunks=byte_by_byte(body))) == whole


def _sse(*events: tuple[str | None, dict[str, Any] | str]) -> bytes:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n")
    return "".join(out).encode()


SMALL_BODIES = {
    "chat": _sse(
        (None, {"id": "c", "choices": [{"index": 0, "delta": {"content": "one"}}]}),
        (None, {"id": "c", "choices": [{"index": 0, "delta": {"content": " two"}, "finish_reason": "stop"}]}),
        (None, "[DONE]"),
    ),
    "responses": _sse(
        (
            "response.output_text.delta",
            {"type": "response.output_text.delta", "output_index": 0, "delta": "one"},
        ),
        (
            "response.output_text.delta",
            {"type": "response.output_text.delta", "output_index": 0, "delta": " two"},
        ),
        (
            "response.completed",
            {"type": "response.completed", "response": {"id": "r", "status": "completed", "output": []}},
        ),
    ),
    "messages": _sse(
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"id": "m", "model": "claude", "usage": {"input_tokens": 1}},
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "one"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " two"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ),
}


@pytest.mark.parametrize("api", APIS)
async def test_first_event_is_yielded_before_the_last_chunk_arrives(api: str) -> None:
    chunks = at_events(SMALL_BODIES[api])
    gates = [asyncio.Event() for _ in chunks]
    delivered: list[int] = []

    async def gated_source() -> AsyncIterator[bytes]:
        for number, (gate, chunk) in enumerate(zip(gates, chunks, strict=True)):
            await gate.wait()
            delivered.append(number)
            yield chunk

    events = interface_for_api(api)().aiter_events(gated_source())
    first = asyncio.ensure_future(events.__anext__())
    opened = 0
    while not first.done():
        assert opened < len(gates), "no event before every chunk was released"
        gates[opened].set()
        opened += 1
        for _ in range(5):
            await asyncio.sleep(0)
    assert isinstance(first.result(), TextDelta) and first.result().text == "one"
    assert len(delivered) < len(chunks)  # the stream is not over, yet its first event is out
    for gate in gates:
        gate.set()
    rest = [event async for event in events]
    assert [e.text for e in rest if isinstance(e, TextDelta)] == [" two"]
    assert delivered == list(range(len(chunks)))
