"""Broken third-party adapters: the correct ``SDKAdapter`` with one realistic bug each.

``BUGS`` maps each factory name to the checks that must catch its bug; the battery must fail each
adapter on those checks and on no other check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import httpx2

from streamproof.adapters.errors import LLMError, LLMRateLimitError, LLMServerError
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


class IgnoresRetryAfter(SDKAdapter):
    """Raises the rate limit without the retry-after the response carried."""

    name = "ignores-retry-after"

    @staticmethod
    def map_error(exc: Exception, call: ConformanceCall, *, mid_stream: bool) -> LLMError:
        error = SDKAdapter.map_error(exc, call, mid_stream=mid_stream)
        if isinstance(error, LLMRateLimitError):
            return LLMRateLimitError(error.message, provider=error.provider, status=error.status)
        return error


class RetriesByItself(SDKAdapter):
    """Retries an HTTP 429 / 5xx answer once, at once, although retries are the caller's job."""

    name = "retries-by-itself"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        try:
            async with contextlib.aclosing(super().stream(call)) as events:
                async for event in events:
                    yield event
        except (LLMRateLimitError, LLMServerError) as error:
            if error.status is None or error.status < 429:  # an error inside a 200 stream: not retried
                raise
            call.traces.traces.clear()  # the first attempt is hidden: one trace for the whole call
            async with contextlib.aclosing(super().stream(call)) as events:
                async for event in events:
                    yield event


class TtftAtStreamEnd(SDKAdapter):
    """Takes the time to first token when the stream ends, not when the first event arrives."""

    name = "ttft-at-stream-end"

    def trace(self, call: ConformanceCall, outcome: Outcome, status: str, *args: Any, **kwargs: Any) -> None:
        collected = len(call.traces.traces)
        super().trace(call, outcome, status, *args, **kwargs)
        for trace in call.traces.traces[collected:]:
            if trace.get("ttft_ms") is not None:
                trace["ttft_ms"] = trace["latency_ms"]


class LatencyInSeconds(SDKAdapter):
    """Reports latency and time to first token in seconds in fields that say milliseconds."""

    name = "latency-in-seconds"

    def trace(self, call: ConformanceCall, outcome: Outcome, status: str, *args: Any, **kwargs: Any) -> None:
        collected = len(call.traces.traces)
        super().trace(call, outcome, status, *args, **kwargs)
        for trace in call.traces.traces[collected:]:
            for name in ("latency_ms", "ttft_ms"):
                if trace.get(name) is not None:
                    trace[name] /= 1000


class NoReadTimeoutOfItsOwn(SDKAdapter):
    """Gives the client it is handed the library's default timeout (ten minutes), not call.timeout_s."""

    name = "no-read-timeout-of-its-own"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        call.http_client.timeout = httpx2.Timeout(600.0)
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event


class AcceptsCleanEndWithoutTerminator(SDKAdapter):
    """Takes a body that ends cleanly as a complete stream, [DONE] / message_stop / completed or not."""

    name = "accepts-clean-end"

    @staticmethod
    def check_ended(call: ConformanceCall, outcome: Outcome) -> None:
        return None


class QuotaAsRateLimit(SDKAdapter):
    """Maps by status alone: OpenAI's 429 insufficient_quota becomes a retryable rate limit."""

    name = "quota-as-rate-limit"

    @staticmethod
    def map_error(exc: Exception, call: ConformanceCall, *, mid_stream: bool) -> LLMError:
        error = SDKAdapter.map_error(exc, call, mid_stream=mid_stream)
        if error.status == 429 and not isinstance(error, LLMRateLimitError):
            return LLMRateLimitError(error.message, provider=error.provider, status=429)
        return error


class CacheWritesAsCacheReads(SDKAdapter):
    """Counts Anthropic's cache_creation_input_tokens as cached (read) input as well."""

    name = "cache-writes-as-cache-reads"

    @staticmethod
    def messages_usage(outcome: Outcome, usage: dict[str, Any]) -> None:
        SDKAdapter.messages_usage(outcome, usage)
        write = outcome.usage.get("cache_write_tokens")
        if write:
            outcome.usage["cached_input_tokens"] = (outcome.usage.get("cached_input_tokens") or 0) + write


class SignaturesByItemId(SDKAdapter):
    """Keys Responses reasoning signatures by item id, so the result lists them in id order."""

    name = "signatures-by-item-id"

    item_ids: dict[str, str] = {}  # signature -> its reasoning item's id

    @staticmethod
    def responses_signature(item: dict[str, Any], position: int, outcome: Outcome) -> list[dict[str, Any]]:
        events = SDKAdapter.responses_signature(item, position, outcome)
        if events:
            SignaturesByItemId.item_ids[item["encrypted_content"]] = str(item.get("id"))
        return events

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event
        if isinstance(call.result, dict) and call.api == "responses":
            call.result["signatures"].sort(key=lambda signature: self.item_ids.get(signature, ""))


class GluesIndexLessToolCalls(SDKAdapter):
    """Takes a Chat tool-call delta without ``index`` as index 0: whole calls are glued into one."""

    name = "glues-index-less-tool-calls"

    @staticmethod
    def chat_tool_key(outcome: Outcome, call: dict[str, Any]) -> Any:
        return call.get("index", 0)


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
    "ignores_retry_after": (IgnoresRetryAfter, frozenset({"faults[rate_limit]"})),
    "retries_by_itself": (
        RetriesByItself,
        frozenset(
            {"faults[rate_limit]", "faults[server_error]", "faults[unavailable]", "faults[overloaded]"}
        ),
    ),
    "ttft_at_stream_end": (TtftAtStreamEnd, frozenset({"traces"})),
    "latency_in_seconds": (LatencyInSeconds, frozenset({"traces"})),
    "no_read_timeout_of_its_own": (NoReadTimeoutOfItsOwn, frozenset({"faults[stall]"})),
    "accepts_clean_end": (AcceptsCleanEndWithoutTerminator, frozenset({"faults[clean_end]"})),
    "quota_as_rate_limit": (QuotaAsRateLimit, frozenset({"faults[quota]"})),
    "cache_writes_as_cache_reads": (CacheWritesAsCacheReads, frozenset({"outcome"})),
    "signatures_by_item_id": (SignaturesByItemId, frozenset({"outcome"})),
    "glues_index_less_tool_calls": (GluesIndexLessToolCalls, frozenset({"outcome", "snapshot"})),
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
