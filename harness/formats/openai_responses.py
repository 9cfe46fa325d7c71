"""OpenAI Responses (``POST /v1/responses``) as the harness speaks it.

Events with ``event:`` lines and a ``sequence_number`` (REAL-STREAMS.md). A mid-stream error is
``response.failed`` with the error in the response (numbered after the last event served, with the
stream's own response id), or, with ``style="error"``, a bare ``error`` event.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..rechunk import at_events
from ..replies import Reasoning, RedactedReasoning, Refusal, Reply, RequestShape, ScriptUsage, Text, ToolUse
from ..wire import ErrorReply, WireContext, argument_pieces, sse, text_pieces
from ._openai import OpenAIFormat, openai_error

_SEQUENCE = re.compile(rb'"sequence_number":\s*(\d+)')


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


def _response_id(body: bytes) -> str:
    """The id of the Responses stream's own response object, whatever its shape (OpenAI ``resp_...``,
    DeepSeek and OpenRouter ids are not): the first event that carries a ``response`` names it."""
    for event in at_events(body):
        for line in event.splitlines():
            if not line.startswith(b"data:") or b'"response"' not in line:
                continue
            try:
                data = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue  # not this event's business to be valid: the fault only borrows the id
            response = data.get("response") if isinstance(data, dict) else None
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                return str(response["id"])
    return ""


class OpenAIResponses(OpenAIFormat):
    name = "openai_responses"
    api = "responses"
    default_model = "gpt-5-mini"
    routes = "/v1/responses"
    styles = ("error",)

    def render_events(self, reply: Reply, ctx: WireContext) -> list[bytes]:
        return responses_events(reply, ctx)

    def render_json(self, reply: Reply, ctx: WireContext) -> dict[str, Any]:
        return responses_json(reply, ctx)

    def _request_error(self, kind: str, model: str) -> ErrorReply:
        if kind == "unknown_model":  # live Responses answers 400 here, not 404
            return openai_error(
                400,
                f"The requested model '{model}' does not exist.",
                "invalid_request_error",
                "model_not_found",
                "model",
            )
        return openai_error(
            400,
            "Your input exceeds the context window of this model. Please adjust your input and try again.",
            "invalid_request_error",
            "context_length_exceeded",
            "input",
        )

    def midstream_error(self, body: bytes, offset: int, kept: int, style: str | None) -> bytes:
        sequences = _SEQUENCE.findall(body[:offset])
        sequence_number = int(sequences[-1]) + 1 if sequences else kept
        if style == "error":
            fields: dict[str, Any] = {
                "code": "server_error",
                "message": "The server had an error while processing your request.",
                "param": None,
            }
            return sse({"type": "error", "sequence_number": sequence_number, **fields}, "error")
        failed: dict[str, Any] = {
            "id": _response_id(body),
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
            {"type": "response.failed", "sequence_number": sequence_number, "response": failed},
            "response.failed",
        )

    def request_kwargs(self, shape: RequestShape, model: str) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": model, "stream": True}
        kw.update(input=shape.prompt, max_output_tokens=shape.max_tokens)
        if shape.system:
            kw["instructions"] = shape.system
        if shape.reasoning:
            kw.update(reasoning={"effort": "low", "summary": "auto"}, include=["reasoning.encrypted_content"])
        if shape.tools:
            kw["tools"] = [{"type": "function", **tool} for tool in shape.tools]
            if shape.force_tool:
                kw["tool_choice"] = "required"
            kw["parallel_tool_calls"] = shape.parallel
        return kw

    def open_stream(self, client: Any, request: dict[str, Any], headers: dict[str, str]) -> Any:
        return client.responses.create(**request, extra_headers=headers)


FORMAT = OpenAIResponses()
