"""Broken third-party adapters: the correct ``SDKAdapter`` with one realistic bug each.

``BUGS`` maps each factory name to the checks that must catch its bug; the battery must fail each
adapter on those checks and on no other check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from streamproof.adapters.errors import LLMError, LLMServerError
from streamproof.conformance.protocol import ITEMS, Capabilities, ConformanceCall
from thirdparty.sdk_adapter import Outcome, SDKAdapter, _sum


class DropsLastTextDelta(SDKAdapter):
    """Holds each text delta back to merge whitespace, and forgets to flush the last one."""

    name = "drops-last-text-delta"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        pending: dict[str, Any] | None = None
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                if event["kind"] == "text":
                    if pending is not None:
                        yield pending
                    pending = event
                    continue
                yield event
        if pending is not None and isinstance(call.result, dict):
            call.result["text"] = call.result["text"][: -len(pending["text"])]


class MergesParallelToolCalls(SDKAdapter):
    """Keys tool calls by position 0 only: the second parallel call is glued onto the first."""

    name = "merges-parallel-tool-calls"

    @staticmethod
    def tool_delta(
        outcome: Outcome, key: Any, call_id: str | None, function: dict[str, Any]
    ) -> dict[str, Any]:
        first_key = next(iter(outcome.tools), key)
        return SDKAdapter.tool_delta(outcome, first_key, call_id, function)


class SumsCumulativeUsage(SDKAdapter):
    """Adds Anthropic's usage counters up across message_start and message_delta (they are cumulative)."""

    name = "sums-cumulative-usage"

    @staticmethod
    def messages_usage(outcome: Outcome, usage: dict[str, Any]) -> None:
        raw = outcome.anthropic_usage
        for key, value in usage.items():
            if isinstance(value, int):
                raw[key] = raw.get(key, 0) + value
        read, write = raw.get("cache_read_input_tokens"), raw.get("cache_creation_input_tokens")
        prompt = _sum(raw.get("input_tokens"), read, write)
        outcome.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": raw.get("output_tokens"),
            "total_tokens": _sum(prompt, raw.get("output_tokens")),
            "cached_input_tokens": read,
            "cache_write_tokens": write,
            "reasoning_tokens": None,
        }


class IgnoresCachedTokens(SDKAdapter):
    """Reads prompt and completion tokens but never the cached-input count."""

    name = "ignores-cached-tokens"

    def chat_chunk(self, chunk: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
        events = super().chat_chunk(chunk, outcome)
        if outcome.usage:
            outcome.usage["cached_input_tokens"] = None
        return events

    @staticmethod
    def messages_usage(outcome: Outcome, usage: dict[str, Any]) -> None:
        SDKAdapter.messages_usage(outcome, usage)
        outcome.usage["cached_input_tokens"] = None


class BuffersWholeStream(SDKAdapter):
    """Collects every event and yields them only once the response has ended."""

    name = "buffers-whole-stream"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        async with contextlib.aclosing(super().stream(call)) as stream:
            events = [event async for event in stream]
        for event in events:
            yield event


class Maps529ToGenericError(SDKAdapter):
    """Turns Anthropic's 529 overloaded into a generic server error (retry policies need the difference)."""

    name = "maps-529-to-generic"

    @staticmethod
    def map_error(exc: Exception, call: ConformanceCall, *, mid_stream: bool) -> LLMError:
        error = SDKAdapter.map_error(exc, call, mid_stream=mid_stream)
        if error.status == 529:
            return LLMServerError(error.message, provider=error.provider, status=529)
        return error


class ForgetsBillingInTrace(SDKAdapter):
    """Writes the trace without the caller's billing context."""

    name = "forgets-billing-context"

    def trace(self, call: ConformanceCall, outcome: Outcome, status: str, *args: Any, **kwargs: Any) -> None:
        collected = len(call.traces.traces)
        super().trace(call, outcome, status, *args, **kwargs)
        for trace in call.traces.traces[collected:]:
            trace["billing"] = None


class TwoTracesOnError(SDKAdapter):
    """Writes an error trace where the error is raised, and again where it is caught."""

    name = "two-traces-on-error"

    def trace(self, call: ConformanceCall, outcome: Outcome, status: str, *args: Any, **kwargs: Any) -> None:
        super().trace(call, outcome, status, *args, **kwargs)
        if status == "error":
            super().trace(call, outcome, status, *args, **kwargs)


class RaisesOnEarlyClose(SDKAdapter):
    """Treats a consumer that stops early as a failed stream and raises at it."""

    name = "raises-on-early-close"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        try:
            async with contextlib.aclosing(super().stream(call)) as events:
                async for event in events:
                    yield event
        except (GeneratorExit, asyncio.CancelledError):
            raise LLMError("stream closed before it ended") from None


class LosesThinkingSignature(SDKAdapter):
    """Ignores Anthropic's signature_delta, so the thinking block cannot be sent back."""

    name = "loses-thinking-signature"

    def messages_delta(self, index: int, delta: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
        if delta.get("type") == "signature_delta":
            return []
        return super().messages_delta(index, delta, outcome)


# factory name -> (adapter class, the checks that must catch its bug)
FAULT_ITEMS = frozenset(item for item in ITEMS if item.startswith("faults["))  # one per fault kind

# factory name -> (adapter, the items of the battery that must fail: checks, and faults[kind])
BUGS: dict[str, tuple[type[SDKAdapter], frozenset[str]]] = {
    "drops_last_text_delta": (DropsLastTextDelta, frozenset({"outcome", "snapshot"})),
    "merges_parallel_tool_calls": (MergesParallelToolCalls, frozenset({"outcome", "snapshot"})),
    "sums_cumulative_usage": (SumsCumulativeUsage, frozenset({"outcome"})),
    "ignores_cached_tokens": (IgnoresCachedTokens, frozenset({"outcome"})),
    "buffers_whole_stream": (BuffersWholeStream, frozenset({"streaming"})),
    "maps_529_to_generic": (Maps529ToGenericError, frozenset({"faults[overloaded]"})),
    "forgets_billing_context": (ForgetsBillingInTrace, frozenset({"traces"})),
    "two_traces_on_error": (TwoTracesOnError, FAULT_ITEMS),
    "raises_on_early_close": (RaisesOnEarlyClose, frozenset({"cancellation"})),
    "loses_thinking_signature": (LosesThinkingSignature, frozenset({"outcome", "snapshot"})),
}


def drops_last_text_delta() -> SDKAdapter:
    return DropsLastTextDelta()


def merges_parallel_tool_calls() -> SDKAdapter:
    return MergesParallelToolCalls()


def buffers_whole_stream() -> SDKAdapter:
    return BuffersWholeStream()


class DeclaredBufferingChatOnly(BuffersWholeStream):
    """The buffering adapter, honest about it: the gap is declared, and it speaks Chat only."""

    name = "declared-buffering-chat-only"
    capabilities = Capabilities(apis=frozenset({"chat"}))
    known_gaps = {"streaming": "buffers each response by design"}


def declared_buffering_chat_only() -> SDKAdapter:
    return DeclaredBufferingChatOnly()
