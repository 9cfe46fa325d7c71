"""OpenAI Chat Completions (``POST /v1/chat/completions``) as the harness speaks it.

Chunks with ``obfuscation`` padding, ``usage: null`` and a usage-only chunk with empty ``choices``
after the finish chunk when ``stream_options.include_usage`` is set, then ``[DONE]`` (the real
captures in ``../shared/real-cassettes``, REAL-STREAMS.md). A mid-stream error is a data-only chunk
holding an ``error`` object (what OpenAI sends; the SDK raises ``APIError``), or, with
``style="groq"``, Groq's ``event: error``.
"""

from __future__ import annotations

from typing import Any

from ..replies import Refusal, Reply, RequestShape, ScriptUsage, Text, ToolUse
from ..wire import ErrorReply, WireContext, argument_pieces, sse, text_pieces
from ._openai import OpenAIFormat, openai_error

_CHAT_FINISH = {"end": "stop", "tool_use": "tool_calls", "max_tokens": "length", "refusal": "stop"}


def _chat_usage(usage: ScriptUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class _ChatIds:
    def __init__(self, ctx: WireContext) -> None:
        self.response = "chatcmpl-" + ctx.token(29)
        self.fingerprint = "fp_" + ctx.token(10, "0123456789abcdef")
        self.calls = ["call_" + ctx.token(24) for _ in range(8)]


def chat_events(reply: Reply, ctx: WireContext) -> list[bytes]:
    ids = _ChatIds(ctx)
    include_usage = bool((ctx.request.get("stream_options") or {}).get("include_usage"))
    base: dict[str, Any] = {
        "id": ids.response,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "service_tier": "default",
        "system_fingerprint": ids.fingerprint,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = dict(base)
        if include_usage:
            data["usage"] = None
        data["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        data["obfuscation"] = ctx.obfuscation()
        return sse(data)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    call_index = 0
    for block in reply.blocks:
        if isinstance(block, Text):
            events += [chunk({"content": piece}) for piece in text_pieces(block.text)]
        elif isinstance(block, Refusal):
            events += [chunk({"refusal": piece}) for piece in text_pieces(block.text)]
        elif isinstance(block, ToolUse):
            opening = {"index": call_index, "id": ids.calls[call_index], "type": "function"}
            opening["function"] = {"name": block.name, "arguments": ""}
            events.append(chunk({"tool_calls": [opening]}))
            for piece in argument_pieces(block.arguments, ctx.rng):
                events.append(
                    chunk({"tool_calls": [{"index": call_index, "function": {"arguments": piece}}]})
                )
            call_index += 1
        # reasoning never appears on the Chat wire: only its token count does
    events.append(chunk({}, _CHAT_FINISH[reply.stop]))
    if include_usage:
        events.append(
            sse({**base, "choices": [], "usage": _chat_usage(reply.usage), "obfuscation": ctx.obfuscation()})
        )
    events.append(b"data: [DONE]\n\n")
    return events


def chat_json(reply: Reply, ctx: WireContext) -> dict[str, Any]:
    ids = _ChatIds(ctx)
    text = "".join(b.text for b in reply.blocks if isinstance(b, Text))
    refusal = "".join(b.text for b in reply.blocks if isinstance(b, Refusal))
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": refusal or None}
    calls = [b for b in reply.blocks if isinstance(b, ToolUse)]
    if calls:
        message["tool_calls"] = [
            {"id": ids.calls[i], "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for i, c in enumerate(calls)
        ]
    message["annotations"] = []
    return {
        "id": ids.response,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _CHAT_FINISH[reply.stop]}
        ],
        "usage": _chat_usage(reply.usage),
        "service_tier": "default",
        "system_fingerprint": ids.fingerprint,
    }


class OpenAIChat(OpenAIFormat):
    name = "openai_chat"
    api = "chat"
    default_model = "gpt-4o-mini"
    routes = "/v1/chat/completions"
    styles = ("groq",)

    def render_events(self, reply: Reply, ctx: WireContext) -> list[bytes]:
        return chat_events(reply, ctx)

    def render_json(self, reply: Reply, ctx: WireContext) -> dict[str, Any]:
        return chat_json(reply, ctx)

    def _request_error(self, kind: str, model: str) -> ErrorReply:
        if kind == "unknown_model":
            return openai_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        return openai_error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 300012 tokens. "
            "Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        )

    def midstream_error(self, body: bytes, offset: int, kept: int, style: str | None) -> bytes:
        error = {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
        }
        return sse({"error": {**error, "param": None, "code": None}}, "error" if style == "groq" else None)

    def request_kwargs(self, shape: RequestShape, model: str) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": model, "stream": True}
        messages: list[dict[str, Any]] = []
        if shape.system:
            messages.append({"role": "system", "content": shape.system})
        messages.append({"role": "user", "content": shape.prompt})
        kw.update(messages=messages, stream_options={"include_usage": True})
        kw["max_completion_tokens"] = shape.max_tokens
        if shape.tools:
            kw["tools"] = [{"type": "function", "function": tool} for tool in shape.tools]
            if shape.force_tool:
                kw["tool_choice"] = "required"
            kw["parallel_tool_calls"] = shape.parallel
        return kw

    def open_stream(self, client: Any, request: dict[str, Any], headers: dict[str, str]) -> Any:
        return client.chat.completions.create(**request, extra_headers=headers)


FORMAT = OpenAIChat()
