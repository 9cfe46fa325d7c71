"""Third-party adapters that trip the suite itself rather than one of its checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from streamproof.adapters.errors import LLMServerError
from streamproof.conformance.protocol import ConformanceCall
from thirdparty.sdk_adapter import Outcome, SDKAdapter


class ResultWithoutUsage(SDKAdapter):
    """Hands over a result whose usage is null: an unreadable result (``outcome`` fails), so the
    traces check has no result usage to compare the trace's with."""

    name = "result-without-usage"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event
        if isinstance(call.result, dict):
            call.result["usage"] = None


def result_without_usage() -> SDKAdapter:
    return ResultWithoutUsage()


class ExplodingUsage(dict[str, Any]):
    """A (non-empty) usage mapping that raises whenever a field is read."""

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError(f"usage field {key!r} exploded")


class TraceUsageThatRaises(SDKAdapter):
    """Writes a trace whose usage raises when the suite reads it: the suite crashes while judging."""

    name = "trace-usage-that-raises"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event
        for trace in call.traces.traces:
            trace["usage"] = ExplodingUsage(prompt_tokens=1)


def trace_usage_that_raises() -> SDKAdapter:
    return TraceUsageThatRaises()


class AddsReasoningEffort(SDKAdapter):
    """Sends the recorded request plus a ``reasoning_effort`` the recording lacks: a request warning."""

    name = "adds-reasoning-effort"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        call.request = {**call.request, "reasoning_effort": "low"}
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event


def adds_reasoning_effort() -> SDKAdapter:
    return AddsReasoningEffort()


class FailsOnTheFinishChunk(SDKAdapter):
    """Raises a server error on a chat stream's finish chunk, before its ``[DONE]`` arrives: it
    never reads the paced run's held tail (a library that crashes on the stream's last chunk)."""

    name = "fails-on-the-finish-chunk"

    def chat_chunk(self, chunk: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
        if any(choice.get("finish_reason") for choice in chunk.get("choices") or []):
            raise LLMServerError("the finish chunk was too much", provider="openai")
        return super().chat_chunk(chunk, outcome)


def fails_on_the_finish_chunk() -> SDKAdapter:
    return FailsOnTheFinishChunk()
