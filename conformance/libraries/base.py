"""What every library wrapper shares: the outcome it gathers, the one trace per call, error mapping.

A wrapper subclasses ``LibraryAdapter`` and implements ``events(call, outcome)``: drive the library
on ``call.request`` and turn what the LIBRARY reports (its chunks, its usage object, its finish
reason, its exceptions) into canonical events through the ``Outcome`` helpers. Nothing here reads
the wire: the recorded bytes reach only the library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any, TypeVar

import anthropic
import openai

from ...adapters.error_mapping import map_sdk_exception
from ...adapters.errors import LLMError, LLMIncompleteStreamError, MalformedStreamError
from ...adapters.formats.openai_chat import map_openai_error
from ..protocol import Capabilities, ConformanceCall

# the words each API uses for why a response ended, as the libraries pass them on
CHAT_STOPS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
MESSAGES_STOPS = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "context_window",
}
RESPONSES_STOPS = {
    "completed": "end_turn",
    "max_output_tokens": "max_tokens",
    "content_filter": "content_filter",
}


SDKClient = TypeVar("SDKClient", anthropic.AsyncAnthropic, openai.AsyncOpenAI)


def sdk_client(client_class: type[SDKClient], call: ConformanceCall) -> SDKClient:
    """An official SDK client pointed at the cassette, as the protocol asks: no retries of its own,
    the call's read timeout."""
    return client_class(
        api_key=call.api_key,
        base_url=call.base_url,
        http_client=call.http_client,
        max_retries=0,
        timeout=call.timeout_s,
    )


class Outcome:
    """What one call has gathered so far; becomes the result dict and the trace."""

    def __init__(self) -> None:
        self.text = ""
        self.reasoning = ""
        self.signatures: list[str] = []
        self.tools: dict[Any, dict[str, str]] = {}
        self.usage: dict[str, int | None] = {}
        self.stop_reason: str | None = None
        self.provider_stop_reason: str | None = None
        self.ended = False  # the library said the response is complete
        self.refused = False
        self.responded = False  # the response began: a dropped connection now cuts the stream

    def result(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "signatures": self.signatures,
            "tool_calls": list(self.tools.values()),
            "usage": self.usage,
            "stop_reason": self.stop_reason,
            "provider_stop_reason": self.provider_stop_reason,
        }

    def text_delta(self, text: str) -> dict[str, Any]:
        self.text += text
        return {"kind": "text", "text": text}

    def reasoning_delta(self, text: str, block: int = 0, signature: str | None = None) -> dict[str, Any]:
        self.reasoning += text
        if signature:
            self.signatures.append(signature)
        return {"kind": "reasoning", "block": block, "text": text, "signature": signature or None}

    def refusal_delta(self, text: str) -> dict[str, Any]:
        self.refused = True
        return {"kind": "refusal", "text": text}

    def tool_delta(
        self, key: Any, call_id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> dict[str, Any]:
        """A piece of the tool call ``key``; its id and name go on the delta where they first appear
        (libraries that repeat them on every piece are not taken to have sent them again)."""
        first = key not in self.tools
        entry = self.tools.setdefault(key, {"id": "", "name": "", "arguments": ""})
        event: dict[str, Any] = {
            "kind": "tool_call",
            "index": list(self.tools).index(key),
            "arguments": arguments,
        }
        if first or (call_id and not entry["id"]):
            event["id"] = call_id
        if first or (name and not entry["name"]):
            event["name"] = name
        entry["id"] = entry["id"] or call_id or ""
        entry["name"] = entry["name"] or name or ""
        entry["arguments"] += arguments
        return event

    def stop(self, word: str | None, table: Mapping[str, str]) -> dict[str, Any]:
        """The library's finish reason, normalized; a plain end with tool calls or a refusal says so."""
        reason = table.get(word or "", "other") if word else "end_turn"
        if reason == "end_turn" and (self.refused or self.tools):
            reason = "refusal" if self.refused else "tool_calls"
        self.stop_reason, self.provider_stop_reason = reason, word
        self.ended = True
        return {"kind": "stop", "reason": reason, "provider_reason": word}


def usage_dict(
    prompt: int | None,
    completion: int | None,
    total: int | None = None,
    *,
    cached: int | None = None,
    cache_write: int | None = None,
    reasoning: int | None = None,
) -> dict[str, int | None]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_input_tokens": cached,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
    }


def model_field(model: object, name: str) -> Any:
    """A field of a library's pydantic model, declared or kept as an extra (the openai SDK declares
    ``prompt_tokens_details.cache_write_tokens`` since 3.x; older releases keep it as an extra)."""
    value = getattr(model, name, None)
    if value is None:
        value = (getattr(model, "model_extra", None) or {}).get(name)
    return value


def plain(value: object) -> Any:
    """A library object (pydantic model, dataclass-ish, mapping) as plain JSON-able data."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=False)
    return value


class LibraryAdapter:
    """The protocol's ``stream`` around a wrapper's ``events``: timing, one trace, errors mapped."""

    name = "library"
    capabilities = Capabilities()
    known_gaps: Mapping[str, str] = {}

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        started = time.perf_counter()
        first_event: float | None = None
        outcome = Outcome()
        try:
            async with contextlib.aclosing(self.events(call, outcome)) as events:
                async for event in events:
                    if first_event is None:
                        first_event = time.perf_counter()
                    yield event
            if not outcome.ended:
                raise LLMIncompleteStreamError(f"{call.api} stream ended before the library saw its end")
        except (GeneratorExit, asyncio.CancelledError):
            self.trace(call, outcome, "cancelled", started, first_event)
            raise
        except Exception as exc:
            error = self.map_error(exc, call, outcome)
            self.trace(call, outcome, "error", started, first_event, error)
            if error is None:
                raise  # not a provider failure the wrapper knows: the library's own error, unchanged
            raise error from exc
        call.set_result(outcome.result())
        self.trace(call, outcome, "success", started, first_event)

    def events(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        raise NotImplementedError

    @staticmethod
    def trace(
        call: ConformanceCall,
        outcome: Outcome,
        status: str,
        started: float,
        first_event: float | None,
        error: LLMError | None = None,
    ) -> None:
        call.traces.emit(
            {
                "status": status,
                "billing": call.billing.model_dump(mode="json"),
                "usage": outcome.usage,
                "latency_ms": (time.perf_counter() - started) * 1000,
                "ttft_ms": (first_event - started) * 1000 if first_event is not None else None,
                "error_type": type(error).__name__ if error else None,
            }
        )

    def map_error(self, exc: Exception, call: ConformanceCall, outcome: Outcome) -> LLMError | None:
        """The library's exception as a streamproof error (the SDKs' own exceptions map as the SDKs'),
        or None: an exception the wrapper does not know is passed on as the library raised it.

        Wrappers whose library raises its own classes override this and fall back to it."""
        if isinstance(exc, json.JSONDecodeError):
            return MalformedStreamError(f"{call.api} stream carried bad JSON: {exc}")
        return sdk_error(exc, call, mid_stream=outcome.responded)


def sdk_error(exc: BaseException, call: ConformanceCall, *, mid_stream: bool) -> LLMError | None:
    """An openai / anthropic SDK (or httpx) exception as a streamproof error, or None."""
    # the transport error says more; libraries re-raise the SDK's as subclasses of their own, chained
    while (
        isinstance(exc, (openai.APIConnectionError, anthropic.APIConnectionError))
        and exc.__cause__ is not None
    ):
        exc = exc.__cause__
    if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIStatusError) and exc.body:
        return map_openai_error(None, {"error": exc.body}, provider=call.provider)
    return map_sdk_exception(exc, "anthropic" if call.api == "messages" else "openai", mid_stream=mid_stream)
