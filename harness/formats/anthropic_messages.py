"""Anthropic Messages (``POST /v1/messages``) as the harness speaks it.

``message_start`` / ``content_block_*`` / ``ping`` / ``message_delta`` / ``message_stop`` with the
signature as one ``signature_delta`` just before the thinking block stops, and Anthropic's habit of
padding JSON with spaces (REAL-STREAMS.md). A mid-stream error is ``event: error`` with
``overloaded_error``. The request wants ``max_tokens``; errors carry the ``request_id``.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from ..replies import Reasoning, RedactedReasoning, Refusal, Reply, RequestShape, ScriptUsage, Text, ToolUse
from ..wire import ErrorReply, WireContext, argument_pieces, sse, text_pieces
from . import HarnessFormat

_ANTHROPIC_STOP = {
    "end": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "refusal": "refusal",
}


def _anthropic_usage(usage: ScriptUsage, output_tokens: int) -> dict[str, Any]:
    uncached = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens
    return {
        "input_tokens": uncached,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": output_tokens,
    }


def _anthropic_block(block: Any, ctx: WireContext, *, whole: bool) -> dict[str, Any]:
    """The block as ``content_block_start`` opens it (``whole=False``) or as a JSON body holds it."""
    if isinstance(block, Reasoning):
        return {
            "type": "thinking",
            "thinking": block.text if whole else "",
            "signature": block.signature if whole else "",
        }
    if isinstance(block, RedactedReasoning):
        return {"type": "redacted_thinking", "data": block.data}
    if isinstance(block, Text | Refusal):
        return {"type": "text", "text": block.text if whole else ""}
    tool_id = "toolu_01" + ctx.token(22)
    return {
        "type": "tool_use",
        "id": tool_id,
        "name": block.name,
        "input": orjson.loads(block.arguments) if whole else {},
        "caller": {"type": "direct"},
    }


class _AnthropicPad:
    """Anthropic pads some events' JSON with spaces before the closing brace."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        return " " * self.rng.choice((0, 0, 1, 2, 4, 7, 10, 13, 15))


def messages_events(reply: Reply, ctx: WireContext) -> list[bytes]:
    pad = _AnthropicPad(ctx.rng)
    message: dict[str, Any] = {
        "id": "msg_01" + ctx.token(22),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            **_anthropic_usage(reply.usage, 1),
            "cache_creation": {
                "ephemeral_5m_input_tokens": reply.usage.cache_write_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "service_tier": "standard",
        },
    }
    events = [sse({"type": "message_start", "message": message}, "message_start", pad())]
    for index, block in enumerate(reply.blocks):
        opening = _anthropic_block(block, ctx, whole=False)
        events.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": opening},
                "content_block_start",
                pad(),
            )
        )
        if index == 0:
            events.append(b'event: ping\ndata: {"type": "ping"}\n\n')

        def delta(payload: dict[str, Any], index: int = index) -> bytes:
            return sse(
                {"type": "content_block_delta", "index": index, "delta": payload},
                "content_block_delta",
                pad(),
            )

        if isinstance(block, Reasoning):
            events += [
                delta({"type": "thinking_delta", "thinking": piece}) for piece in text_pieces(block.text)
            ]
            events.append(delta({"type": "signature_delta", "signature": block.signature}))
        elif isinstance(block, Text | Refusal):
            events += [delta({"type": "text_delta", "text": piece}) for piece in text_pieces(block.text)]
        elif isinstance(block, ToolUse):
            pieces = [""] + (argument_pieces(block.arguments, ctx.rng) if block.arguments != "{}" else [])
            events += [delta({"type": "input_json_delta", "partial_json": piece}) for piece in pieces]
        events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop", pad()))
    final_usage = _anthropic_usage(reply.usage, reply.usage.output_tokens)
    stop = {"stop_reason": _ANTHROPIC_STOP[reply.stop], "stop_sequence": None}
    events.append(sse({"type": "message_delta", "delta": stop, "usage": final_usage}, "message_delta", pad()))
    events.append(sse({"type": "message_stop"}, "message_stop", pad()))
    return events


def messages_json(reply: Reply, ctx: WireContext) -> dict[str, Any]:
    return {
        "id": "msg_01" + ctx.token(22),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": [_anthropic_block(block, ctx, whole=True) for block in reply.blocks],
        "stop_reason": _ANTHROPIC_STOP[reply.stop],
        "stop_sequence": None,
        "usage": {**_anthropic_usage(reply.usage, reply.usage.output_tokens), "service_tier": "standard"},
    }


def anthropic_error(status: int, kind: str, message: str, request_id: str) -> ErrorReply:
    return ErrorReply(
        status, {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    )


_ERRORS = {
    "bad_key": (401, "authentication_error", "invalid x-api-key"),
    "context_overflow": (400, "invalid_request_error", "prompt is too long: 215318 tokens > 200000 maximum"),
    "rate_limit": (
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    "quota": (
        402,
        "billing_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing "
        "to upgrade or purchase credits.",
    ),
    "server_error": (500, "api_error", "Internal server error"),
    "unavailable": (503, "api_error", "Service unavailable"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
}


def messages_request(shape: RequestShape, model: str) -> dict[str, Any]:
    """The Messages request of ``shape`` (Bedrock sends the same body, less model and stream)."""
    kw: dict[str, Any] = {"model": model, "stream": True}
    kw.update(messages=[{"role": "user", "content": shape.prompt}], max_tokens=shape.max_tokens)
    if shape.system:
        block: dict[str, Any] = {"type": "text", "text": shape.system}
        if shape.cache_system:
            block["cache_control"] = {"type": "ephemeral"}
        kw["system"] = [block]
    if shape.reasoning:
        kw["thinking"] = {"type": "enabled", "budget_tokens": 1024}
        kw["max_tokens"] = max(shape.max_tokens, 2048)
    if shape.tools:
        kw["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in shape.tools
        ]
        if shape.force_tool:
            kw["tool_choice"] = {"type": "any"}
    return kw


def overloaded_event() -> bytes:
    """Anthropic's own mid-stream error."""
    return sse(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": None},
        "error",
    )


class AnthropicMessages(HarnessFormat):
    name = "anthropic_messages"
    api = "messages"
    provider = "anthropic"
    request_id_header = "request-id"
    default_model = "claude-sonnet-4-6"
    unknown_model = "claude-does-not-exist"
    canonical_host = "api.anthropic.com"
    key_env = "ANTHROPIC_API_KEY"
    routes = "/v1/messages"

    def render_events(self, reply: Reply, ctx: WireContext) -> list[bytes]:
        return messages_events(reply, ctx)

    def render_json(self, reply: Reply, ctx: WireContext) -> dict[str, Any]:
        return messages_json(reply, ctx)

    def new_request_id(self) -> str:
        return "req_011C" + secrets.token_hex(10)

    def _error(self, kind: str, model: str, request_id: str) -> ErrorReply:
        if kind == "unknown_model":
            return anthropic_error(404, "not_found_error", f"model: {model}", request_id)
        status, error_type, message = _ERRORS[kind]
        return anthropic_error(status, error_type, message, request_id)

    def invalid_request(self, message: str, request_id: str = "", param: str | None = None) -> ErrorReply:
        return anthropic_error(400, "invalid_request_error", message, request_id)

    def midstream_error(self, body: bytes, offset: int, kept: int, style: str | None) -> bytes:
        return overloaded_event()

    def request_kwargs(self, shape: RequestShape, model: str) -> dict[str, Any]:
        return messages_request(shape, model)

    def request_problem(self, payload: Mapping[str, Any]) -> str | None:
        return None if isinstance(payload.get("max_tokens"), int) else "max_tokens: Field required"

    def client(self, *, key: str, base_url: str | None, source: str, http_client: Any) -> Any:
        import anthropic

        return anthropic.Anthropic(api_key=key, base_url=base_url, http_client=http_client, max_retries=0)

    def open_stream(self, client: Any, request: dict[str, Any], headers: dict[str, str]) -> Any:
        return client.messages.create(**request, extra_headers=headers)


FORMAT = AnthropicMessages()
