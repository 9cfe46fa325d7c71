"""A complete adapter over the anthropic SDK's typed stream: text, thinking and its signatures,
redacted thinking, tool calls, cumulative usage (cache reads and writes, per-iteration billing),
stop reasons, error mapping and one trace per call (success, error, cancellation)."""

import json
import time
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
from anthropic.types import Message, RawMessageStreamEvent

from streamproof.adapters.error_mapping import map_sdk_exception
from streamproof.adapters.errors import LLMIncompleteStreamError, MalformedStreamError
from streamproof.conformance.protocol import Capabilities, ConformanceCall

STOPS = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "context_window",
}
COUNTERS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


def _sum(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class Call:
    """What one call has gathered so far: becomes the result dict and the trace."""

    def __init__(self) -> None:
        self.text, self.reasoning = "", ""
        self.signatures: list[str] = []
        self.tools: dict[int, dict[str, str]] = {}
        self.raw_usage: dict[str, int] = {}
        self.stop: str | None = None
        self.ended = False

    def usage(self) -> dict[str, int | None]:
        raw = self.raw_usage
        read, write = raw.get("cache_read_input_tokens"), raw.get("cache_creation_input_tokens")
        prompt = _sum(raw.get("input_tokens"), read, write)  # Anthropic's input_tokens leaves the cache out
        return {
            "prompt_tokens": prompt,
            "completion_tokens": raw.get("output_tokens"),
            "total_tokens": _sum(prompt, raw.get("output_tokens")),
            "cached_input_tokens": read,
            "cache_write_tokens": write,
        }

    def add_usage(self, usage: dict[str, Any]) -> None:
        """The counters are cumulative (the latest replaces the earlier); ``iterations``, when
        present, are each billed: their sum is the call's count."""
        self.raw_usage.update({k: v for k, v in usage.items() if isinstance(v, int)})
        for key in COUNTERS:
            counts = [i[key] for i in usage.get("iterations") or [] if isinstance(i.get(key), int)]
            if counts:
                self.raw_usage[key] = sum(counts)

    def events(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind, index = event.get("type"), event.get("index", 0)
        if kind == "message_start":
            self.add_usage(event["message"].get("usage") or {})
        elif kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "tool_use":
                self.tools[index] = {"id": block["id"], "name": block["name"], "arguments": ""}
                return [
                    {
                        "kind": "tool_call",
                        "index": len(self.tools) - 1,
                        "id": block["id"],
                        "name": block["name"],
                    }
                ]
            if block["type"] == "redacted_thinking":
                return [{"kind": "hidden_reasoning", "block": index, "data": block.get("data")}]
        elif kind == "content_block_delta":
            return self.delta(index, event["delta"])
        elif kind == "content_block_stop" and index in self.tools and not self.tools[index]["arguments"]:
            self.tools[index]["arguments"] = "{}"  # a tool_use without input deltas takes no arguments
            return [{"kind": "tool_call", "index": list(self.tools).index(index), "arguments": "{}"}]
        elif kind == "message_delta":
            self.add_usage(event.get("usage") or {})
            self.stop = (event.get("delta") or {}).get("stop_reason") or self.stop
            if self.stop:
                return [
                    {"kind": "stop", "reason": STOPS.get(self.stop, "other"), "provider_reason": self.stop}
                ]
        elif kind == "message_stop":
            self.ended = True
        return []

    def delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta["type"]
        if kind == "text_delta" and delta["text"]:
            self.text += delta["text"]
            return [{"kind": "text", "text": delta["text"]}]
        if kind == "thinking_delta" and delta["thinking"]:
            self.reasoning += delta["thinking"]
            return [{"kind": "reasoning", "block": index, "text": delta["thinking"]}]
        if kind == "signature_delta" and delta["signature"]:
            self.signatures.append(delta["signature"])
            return [{"kind": "reasoning", "block": index, "signature": delta["signature"]}]
        if kind == "input_json_delta" and index in self.tools and delta["partial_json"]:
            self.tools[index]["arguments"] += delta["partial_json"]
            position = list(self.tools).index(index)
            return [{"kind": "tool_call", "index": position, "arguments": delta["partial_json"]}]
        return []

    def result(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "signatures": self.signatures,
            "tool_calls": list(self.tools.values()),
            "usage": self.usage(),
            "stop_reason": STOPS.get(self.stop, "other") if self.stop else None,
            "provider_stop_reason": self.stop,
        }


class AnthropicMessagesAdapter:
    name = "anthropic-sdk-messages"
    capabilities = Capabilities(apis=frozenset({"messages"}))
    known_gaps: dict[str, str] = {}

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        started, first, state = time.perf_counter(), None, Call()
        status, responded = "cancelled", False  # cancelled unless the loop ends or raises
        client = anthropic.AsyncAnthropic(
            api_key=call.api_key, base_url=call.base_url, http_client=call.http_client, max_retries=0
        )
        try:
            stream = await client.post(
                "/v1/messages",
                body=call.request,
                cast_to=Message,
                stream=True,
                stream_cls=anthropic.AsyncStream[RawMessageStreamEvent],
            )
            responded = True
            async with stream:
                # anext, not ``async for``: the SDK's __aiter__ is a generator of its own that, left
                # suspended by an early close, would be finalized later in a task of its own
                while (item := await anext(stream, None)) is not None:
                    for event in state.events(item.to_dict(warnings=False)):
                        first = first or time.perf_counter()
                        yield event
            if not state.ended:  # the SDK ends quietly when the body stops before message_stop
                raise LLMIncompleteStreamError("the messages stream ended before message_stop")
            status = "success"
        except Exception as exc:
            status = "error"
            error = self.map_error(exc, mid_stream=responded)
            raise error from exc
        finally:  # exactly one trace per call: on success, on error and on cancellation
            call.traces.emit(
                {
                    "status": status,
                    "billing": call.billing.model_dump(mode="json"),
                    "usage": state.usage(),
                    "latency_ms": (time.perf_counter() - started) * 1000,
                    "ttft_ms": (first - started) * 1000 if first else None,
                }
            )
        call.set_result(state.result())

    @staticmethod
    def map_error(exc: Exception, *, mid_stream: bool) -> Exception:
        if isinstance(exc, (LLMIncompleteStreamError, MalformedStreamError)):
            return exc
        if isinstance(exc, json.JSONDecodeError):  # the SDK's json.loads of a malformed data line
            return MalformedStreamError(f"the messages stream carried bad JSON: {exc}")
        if isinstance(exc, anthropic.APIConnectionError) and exc.__cause__ is not None:
            exc = exc.__cause__  # type: ignore[assignment]  # the transport error says more
        return map_sdk_exception(exc, "anthropic", mid_stream=mid_stream) or exc


def factory() -> AnthropicMessagesAdapter:
    return AnthropicMessagesAdapter()
