"""Cases built from a few events (no cassette file), for tests that need a stream the bundled
cassettes do not have: ``make_case(api, body)``; and the cases that show the bugs of
``thirdparty.broken`` the bundled set cannot show (``BUG_CASES``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamproof.conformance.battery import Case
from streamproof.harness.cassette import Headers, Interaction, RecordedRequest, RecordedResponse

URIS = {
    "chat": "https://api.openai.com/v1/chat/completions",
    "responses": "https://api.openai.com/v1/responses",
    "messages": "https://api.anthropic.com/v1/messages",
}


def sse(*events: dict[str, Any] | str, named: bool = True) -> bytes:
    out = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        head = f"event: {event['type']}\n" if named and isinstance(event, dict) and "type" in event else ""
        out.append(f"{head}data: {data}\n\n")
    return "".join(out).encode()


def make_case(
    api: str, body: bytes, request: Mapping[str, Any] | None = None, status: int = 200, name: str = "case"
) -> Case:
    """A case of ``api`` whose recorded response is ``body`` (SSE)."""
    prompt = [{"role": "user", "content": "Hi"}]
    defaults: dict[str, dict[str, Any]] = {
        "chat": {"messages": prompt, "stream_options": {"include_usage": True}},
        "responses": {"input": prompt},
        "messages": {"messages": prompt, "max_tokens": 64},
    }
    sent = {"model": "m-1", "stream": True, **defaults[api], **(request or {})}
    interaction = Interaction(
        0,
        RecordedRequest(
            "POST", URIS[api], Headers({"content-type": "application/json"}), json.dumps(sent).encode()
        ),
        RecordedResponse(status, "OK", Headers({"content-type": "text/event-stream"}), body),
    )
    root = Path("/synthetic")
    provider = "anthropic" if api == "messages" else "openai"
    return Case(root / provider / api / f"{name}.yaml", root, interaction)


def _chat_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c1", "model": "m-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def cache_write_case() -> Case:
    """Anthropic: the first call of a cached prompt writes 1,200 tokens to the cache."""
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 1200,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    text = {"type": "text", "text": ""}
    body = sse(
        {"type": "message_start", "message": {"id": "msg_1", "model": "m-1", "usage": usage}},
        {"type": "content_block_start", "index": 0, "content_block": text},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
            for t in "Hello"
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 6}},
        {"type": "message_stop"},
    )
    return make_case("messages", body, name="cache_write")


def two_signed_reasoning_items_case() -> Case:
    """Responses: two signed reasoning items whose ids do not sort in output order."""
    ids = ("rs_zz9", "rs_aa1")  # output 0 and output 2
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "model": "m-1"}}
    ]
    output: list[dict[str, Any]] = []
    for position, item_id in ((0, ids[0]), (2, ids[1])):
        item = {"id": item_id, "type": "reasoning", "summary": [], "encrypted_content": f"gAAAA-{item_id}"}
        events += [
            {
                "type": "response.output_item.added",
                "output_index": position,
                "item": {**item, "encrypted_content": None},
            },
            {
                "type": "response.reasoning_summary_text.delta",
                "output_index": position,
                "delta": f"think {position}",
            },
            {"type": "response.output_item.done", "output_index": position, "item": item},
        ]
        message = {
            "id": f"msg_{position}",
            "type": "message",
            "content": [{"type": "output_text", "text": "ok"}],
        }
        events += [
            {"type": "response.output_text.delta", "output_index": position + 1, "delta": "ok"},
            {"type": "response.output_item.done", "output_index": position + 1, "item": message},
        ]
        output += [item, message]
    usage = {"input_tokens": 5, "output_tokens": 9, "total_tokens": 14}
    final = {"id": "resp_1", "status": "completed", "model": "m-1", "output": output, "usage": usage}
    return make_case(
        "responses", sse(*events, {"type": "response.completed", "response": final}), name="two_signed"
    )


def index_less_tool_calls_case() -> Case:
    """Chat, Mistral / Gemini-compatible style: each tool call whole, in one delta, without ``index``."""
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}},
    ]
    usage = {
        "id": "c1",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body = sse(
        _chat_chunk({"role": "assistant", "content": ""}),
        _chat_chunk({"content": "Checking."}),
        _chat_chunk({"tool_calls": [calls[0]]}),
        _chat_chunk({"tool_calls": [calls[1]]}),
        _chat_chunk({}, "tool_calls"),
        usage,
        "[DONE]",
    )
    return make_case("chat", body, name="index_less_tool_calls")


def bug_cases() -> list[Case]:
    return [cache_write_case(), two_signed_reasoning_items_case(), index_less_tool_calls_case()]
