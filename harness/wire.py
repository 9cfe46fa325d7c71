"""Each API's wire format: a scenario ``Reply`` rendered as SSE events or a JSON body, and the
providers' error bodies (HTTP errors and mid-stream error events).

Shapes follow the real captures in ``../shared/real-cassettes`` (REAL-STREAMS.md): OpenAI Chat chunks
with ``obfuscation`` padding, ``usage: null`` and a usage-only chunk with empty ``choices`` after the
finish chunk when ``stream_options.include_usage`` is set, then ``[DONE]``; Responses events with
``event:`` lines and a ``sequence_number``; Anthropic ``message_start`` / ``content_block_*`` /
``ping`` / ``message_delta`` / ``message_stop`` with the signature as one ``signature_delta`` just
before the thinking block stops, and Anthropic's habit of padding JSON with spaces.
"""

from __future__ import annotations

import random
import re
import string
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from .scenarios import Reasoning, RedactedReasoning, Refusal, Reply, ScriptUsage, Text, ToolUse

_ALNUM = string.ascii_letters + string.digits
_WORDS = re.compile(r"\s*\S+")


@dataclass
class WireContext:
    """Everything one rendered response needs besides the reply: the request and a seeded RNG."""

    api: str
    model: str
    request: dict[str, Any]
    rng: random.Random = field(default_factory=random.Random)
    created: int = field(default_factory=lambda: int(time.time()))

    def token(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def obfuscation(self) -> str:
        return self.token(self.rng.randint(0, 15))


def text_pieces(text: str) -> list[str]:
    """Word-sized deltas, each with its leading space, as providers stream them."""
    return _WORDS.findall(text) or [text]


def argument_pieces(arguments: str, rng: random.Random) -> list[str]:
    pieces, pos = [], 0
    while pos < len(arguments):
        step = rng.randint(3, 8)
        pieces.append(arguments[pos : pos + step])
        pos += step
    return pieces


def sse(data: dict[str, Any], event: str | None = None, pad: str = "") -> bytes:
    body = orjson.dumps(data)
    if pad:
        body = body[:-1] + pad.encode() + b"}"
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + body + b"\n\n"


# --- OpenAI Chat Completions -----------------------------------------------------------------------

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


# --- OpenAI Responses ------------------------------------------------------------------------------


def _responses_usage(usage: ScriptUsage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cache_write_tokens": usage.cache_write_tokens,
            "cached_tokens": usage.cached_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


class _ResponsesBuilder:
    """Builds the output items and the event sequence of one Responses stream."""

    def __init__(self, reply: Reply, ctx: WireContext) -> None:
        self.reply, self.ctx, self.req = reply, ctx, ctx.request
        self.id = "resp_" + ctx.token(48, "0123456789abcdef")
        self.seq = 0
        self.events: list[bytes] = []
        self.output: list[dict[str, Any]] = []
        include = self.req.get("include") or []
        self.encrypted = "reasoning.encrypted_content" in include
        self.summaries = bool((self.req.get("reasoning") or {}).get("summary"))
        self.incomplete = reply.stop == "max_tokens"

    def item_id(self, prefix: str) -> str:
        return f"{prefix}_" + self.ctx.token(48, "0123456789abcdef")

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append(sse({"type": kind, "sequence_number": self.seq, **fields}, kind))
        self.seq += 1

    def response(self, status: str) -> dict[str, Any]:
        done = status in ("completed", "incomplete")
        reasoning = self.req.get("reasoning") or {}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.ctx.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": self.req.get("instructions"),
            "max_output_tokens": self.req.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self.ctx.model,
            "output": self.output if done else [],
            "parallel_tool_calls": self.req.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "prompt_cache_key": None,
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": None,
            "service_tier": "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": self.req.get("tool_choice", "auto"),
            "tools": [{**t, "strict": t.get("strict", True)} for t in self.req.get("tools") or []],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": _responses_usage(self.reply.usage) if done else None,
            "user": None,
            "metadata": {},
        }

    def build(self) -> None:
        self.emit("response.created", response=self.response("in_progress"))
        self.emit("response.in_progress", response=self.response("in_progress"))
        for index, block in enumerate(self.reply.blocks):
            if isinstance(block, Reasoning | RedactedReasoning):
                self.reasoning(index, block)
            elif isinstance(block, Text | Refusal):
                self.message(index, block)
            else:
                self.function_call(index, block)
        final = "incomplete" if self.incomplete else "completed"
        self.emit(f"response.{final}", response=self.response(final))

    def reasoning(self, index: int, block: Reasoning | RedactedReasoning) -> None:
        item: dict[str, Any] = {"id": self.item_id("rs"), "type": "reasoning"}
        if self.encrypted:
            item["encrypted_content"] = block.signature if isinstance(block, Reasoning) else block.data
        item["summary"] = []
        self.emit("response.output_item.added", output_index=index, item=dict(item))
        if isinstance(block, Reasoning) and self.summaries:
            where = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            self.emit(
                "response.reasoning_summary_part.added", **where, part={"type": "summary_text", "text": ""}
            )
            for piece in text_pieces(block.text):
                self.emit(
                    "response.reasoning_summary_text.delta",
                    **where,
                    delta=piece,
                    obfuscation=self.ctx.obfuscation(),
                )
            self.emit("response.reasoning_summary_text.done", **where, text=block.text)
            self.emit(
                "response.reasoning_summary_part.done",
                **where,
                part={"type": "summary_text", "text": block.text},
            )
            item["summary"] = [{"type": "summary_text", "text": block.text}]
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def message(self, index: int, block: Text | Refusal) -> None:
        item: dict[str, Any] = {
            "id": self.item_id("msg"),
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
        }
        self.emit("response.output_item.added", output_index=index, item=dict(item))
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        if isinstance(block, Text):
            part: dict[str, Any] = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            self.emit("response.content_part.added", **where, part=dict(part))
            for piece in text_pieces(block.text):
                self.emit(
                    "response.output_text.delta",
                    **where,
                    delta=piece,
                    logprobs=[],
                    obfuscation=self.ctx.obfuscation(),
                )
            self.emit("response.output_text.done", **where, text=block.text, logprobs=[])
            part["text"] = block.text
        else:
            part = {"type": "refusal", "refusal": ""}
            self.emit("response.content_part.added", **where, part=dict(part))
            for piece in text_pieces(block.text):
                self.emit("response.refusal.delta", **where, delta=piece)
            self.emit("response.refusal.done", **where, refusal=block.text)
            part["refusal"] = block.text
        self.emit("response.content_part.done", **where, part=part)
        item.update(status="incomplete" if self.incomplete else "completed", content=[part])
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def function_call(self, index: int, block: ToolUse) -> None:
        item: dict[str, Any] = {
            "id": self.item_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": "call_" + self.ctx.token(24),
            "name": block.name,
        }
        self.emit("response.output_item.added", output_index=index, item=dict(item))
        where = {"item_id": item["id"], "output_index": index}
        for piece in argument_pieces(block.arguments, self.ctx.rng):
            self.emit(
                "response.function_call_arguments.delta",
                **where,
                delta=piece,
                obfuscation=self.ctx.obfuscation(),
            )
        self.emit("response.function_call_arguments.done", **where, arguments=block.arguments)
        item.update(status="completed", arguments=block.arguments)
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)


def responses_events(reply: Reply, ctx: WireContext) -> list[bytes]:
    builder = _ResponsesBuilder(reply, ctx)
    builder.build()
    return builder.events


def responses_json(reply: Reply, ctx: WireContext) -> dict[str, Any]:
    builder = _ResponsesBuilder(reply, ctx)
    builder.build()
    return builder.response("incomplete" if builder.incomplete else "completed")


# --- Anthropic Messages ----------------------------------------------------------------------------

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


RENDER_EVENTS = {"chat": chat_events, "responses": responses_events, "messages": messages_events}
RENDER_JSON = {"chat": chat_json, "responses": responses_json, "messages": messages_json}


# --- errors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorReply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def _openai_error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> ErrorReply:
    return ErrorReply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


def _anthropic_error(status: int, kind: str, message: str, request_id: str) -> ErrorReply:
    return ErrorReply(
        status, {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    )


def error_reply(
    api: str, kind: str, *, model: str = "", request_id: str = "", retry_after: float | None = None
) -> ErrorReply:
    """The provider's real status and body for one error kind.

    Kinds: bad_key, unknown_model, context_overflow, rate_limit, quota, server_error, unavailable,
    overloaded. A 400 with a message of one's own is ``invalid_request``. The statuses and bodies
    follow the real captures (e.g. Responses answers an unknown model with 400, not 404).
    """
    anthropic = api == "messages"
    reply: ErrorReply
    if kind == "bad_key":
        reply = (
            _anthropic_error(401, "authentication_error", "invalid x-api-key", request_id)
            if anthropic
            else _openai_error(
                401,
                "Incorrect API key provided: sk-***. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        )
    elif kind == "unknown_model":
        if anthropic:
            reply = _anthropic_error(404, "not_found_error", f"model: {model}", request_id)
        elif api == "responses":  # live Responses answers 400 here, not 404
            reply = _openai_error(
                400,
                f"The requested model '{model}' does not exist.",
                "invalid_request_error",
                "model_not_found",
                "model",
            )
        else:
            reply = _openai_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
    elif kind == "context_overflow":
        if anthropic:
            reply = _anthropic_error(
                400, "invalid_request_error", "prompt is too long: 215318 tokens > 200000 maximum", request_id
            )
        elif api == "responses":
            reply = _openai_error(
                400,
                "Your input exceeds the context window of this model. Please adjust your input and try again.",
                "invalid_request_error",
                "context_length_exceeded",
                "input",
            )
        else:
            reply = _openai_error(
                400,
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 300012 tokens. "
                "Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            )
    elif kind == "rate_limit":
        reply = (
            _anthropic_error(
                429,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests per minute. "
                "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
                request_id,
            )
            if anthropic
            else _openai_error(
                429,
                f"Rate limit reached for {model or 'this model'} on requests per min (RPM): Limit 500, Used 500, "
                "Requested 1. Please try again in 2s. Visit https://platform.openai.com/account/rate-limits to learn more.",
                "requests",
                "rate_limit_exceeded",
            )
        )
    elif kind == "quota":  # out of credits: OpenAI says so with a 429, which is no rate limit
        reply = (
            _anthropic_error(
                402,
                "billing_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing "
                "to upgrade or purchase credits.",
                request_id,
            )
            if anthropic
            else _openai_error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more "
                "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                "insufficient_quota",
            )
        )
    elif kind == "server_error":
        reply = (
            _anthropic_error(500, "api_error", "Internal server error", request_id)
            if anthropic
            else _openai_error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            )
        )
    elif kind == "unavailable":
        reply = (
            _anthropic_error(503, "api_error", "Service unavailable", request_id)
            if anthropic
            else _openai_error(503, "Service Unavailable", "server_error", None)
        )
    elif kind == "overloaded":
        reply = (
            _anthropic_error(529, "overloaded_error", "Overloaded", request_id)
            if anthropic  # OpenAI has no 529: it answers 503 with this message
            else _openai_error(
                503, "The engine is currently overloaded, please try again later", "server_error", None
            )
        )
    else:
        raise ValueError(f"unknown error kind {kind!r}")
    if retry_after is not None:
        reply = ErrorReply(reply.status, reply.body, (("retry-after", f"{retry_after:g}"),))
    return reply


def invalid_request(api: str, message: str, request_id: str = "", param: str | None = None) -> ErrorReply:
    if api == "messages":
        return _anthropic_error(400, "invalid_request_error", message, request_id)
    return _openai_error(400, message, "invalid_request_error", None, param)


def midstream_error_event(
    api: str, *, sequence_number: int = 0, response_id: str = "", style: str | None = None
) -> bytes:
    """A provider's own error event inside a 200 stream.

    Anthropic: ``event: error`` with ``overloaded_error``. Chat: a data-only chunk holding an
    ``error`` object (what OpenAI sends; the SDK raises ``APIError``), or ``style="groq"`` for Groq's
    ``event: error``. Responses: ``response.failed`` with the error in the response, or
    ``style="error"`` for a bare ``error`` event.
    """
    if api == "messages":
        return sse(
            {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
                "request_id": None,
            },
            "error",
        )
    if api == "chat":
        error = {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
        }
        return sse({"error": {**error, "param": None, "code": None}}, "error" if style == "groq" else None)
    if style == "error":
        fields: dict[str, Any] = {
            "code": "server_error",
            "message": "The server had an error while processing your request.",
            "param": None,
        }
        return sse({"type": "error", "sequence_number": sequence_number, **fields}, "error")
    failed: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "status": "failed",
        "error": {
            "code": "server_error",
            "message": "The server had an error while processing your request.",
        },
        "incomplete_details": None,
        "output": [],
        "usage": None,
    }
    return sse(
        {"type": "response.failed", "sequence_number": sequence_number, "response": failed}, "response.failed"
    )
