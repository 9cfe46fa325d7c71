"""A third-party adapter that is not ours: it iterates the official SDKs' own typed streams.

It shows what wrapping another library in streamproof's adapter protocol takes: the ``openai`` and
``anthropic`` SDKs parse the SSE themselves (``AsyncStream`` of typed chunks and events); this
adapter walks their ``to_dict()`` forms, yields plain-dict canonical events, sets the final
outcome, maps SDK exceptions to streamproof's error classes, and writes one trace per call.

    pytest --streamproof-adapter thirdparty.sdk_adapter:factory
    streamproof check --adapter thirdparty.sdk_adapter:factory
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import anthropic
import httpx2
import openai
from anthropic.types import Message, RawMessageStreamEvent
from botocore.eventstream import ParserError
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from streamproof.adapters.error_mapping import map_sdk_exception
from streamproof.adapters.errors import LLMError, LLMIncompleteStreamError, MalformedStreamError
from streamproof.adapters.formats.bedrock_messages import map_bedrock_error
from streamproof.adapters.formats.openai_chat import map_openai_error
from streamproof.conformance.protocol import Capabilities, ConformanceCall

CHAT_STOPS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
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
        self.ended = False
        self.refused = False
        self.responded = False  # the response began: a dropped connection now cuts the stream
        self.anthropic_usage: dict[str, int] = {}
        self.signed_blocks: dict[int, str] = {}  # Responses: output index -> encrypted_content

    def result(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "signatures": self.signatures + [self.signed_blocks[k] for k in sorted(self.signed_blocks)],
            "tool_calls": list(self.tools.values()),
            "usage": self.usage,
            "stop_reason": self.stop_reason,
            "provider_stop_reason": self.provider_stop_reason,
        }


class _WatchesForDone:
    """A response hook: marks the outcome ended once the raw body carries ``data: [DONE]``."""

    MARK = b"data: [DONE]"

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    async def hook(self, response: httpx2.Response) -> None:
        inner, outcome, mark = response.stream, self.outcome, self.MARK
        assert isinstance(inner, httpx2.AsyncByteStream)

        class Watched(httpx2.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                tail = b""
                async for chunk in inner:
                    if mark in tail + chunk:
                        outcome.ended = True
                    tail = (tail + chunk)[-len(mark) :]
                    yield chunk

            async def aclose(self) -> None:
                await inner.aclose()

        response.stream = Watched()


def _sum(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class SDKAdapter:
    name = "thirdparty-sdk"
    capabilities = Capabilities(formats=frozenset({"bedrock_messages"}))
    known_gaps: Mapping[str, str] = {
        # botocore's EventStreamJSONParser reads a chunk payload that is not JSON as {} (no
        # ``bytes``), and the SDK's AWSEventStreamDecoder skips such a chunk: the event is lost
        # silently and the stream goes on as if nothing happened
        "faults[malformed_chunk]:bedrock/*": "the anthropic SDK's Bedrock decoder skips a chunk it cannot parse",
    }

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        started = time.perf_counter()
        first_event: float | None = None
        outcome = Outcome()
        try:
            async with contextlib.aclosing(self._events(call, outcome)) as events:
                async for event in events:
                    if first_event is None:
                        first_event = time.perf_counter()
                    yield event
            self.check_ended(call, outcome)
        except (GeneratorExit, asyncio.CancelledError):
            self.trace(call, outcome, "cancelled", started, first_event)
            raise
        except Exception as exc:
            error = self.map_error(exc, call, mid_stream=outcome.responded)
            self.trace(call, outcome, "error", started, first_event, error)
            raise error from exc
        call.set_result(outcome.result())
        self.trace(call, outcome, "success", started, first_event)

    @staticmethod
    def check_ended(call: ConformanceCall, outcome: Outcome) -> None:
        """A body that ends without the stream's terminal event is a cut stream, however cleanly."""
        if not outcome.ended:
            raise LLMIncompleteStreamError(f"{call.api} stream ended before its terminal event")

    def trace(
        self,
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

    @staticmethod
    def map_error(exc: Exception, call: ConformanceCall, *, mid_stream: bool) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, json.JSONDecodeError):
            return MalformedStreamError(f"{call.api} stream carried bad JSON: {exc}")
        if call.provider == "bedrock":
            bedrock = SDKAdapter.map_bedrock_error(exc)
            if bedrock is not None:
                return bedrock
        if (
            isinstance(exc, (openai.APIConnectionError, anthropic.APIConnectionError))
            and exc.__cause__ is not None
        ):
            exc = exc.__cause__  # type: ignore[assignment]  # the transport error says more
        if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIStatusError) and exc.body:
            return map_openai_error(None, {"error": exc.body}, provider=call.provider)
        provider = (
            "bedrock" if call.provider == "bedrock" else "anthropic" if call.api == "messages" else "openai"
        )
        mapped = map_sdk_exception(exc, provider, mid_stream=mid_stream)
        if mapped is None:
            raise exc
        return mapped

    @staticmethod
    def map_bedrock_error(exc: Exception) -> LLMError | None:
        """What the Bedrock client's own event-stream decoding raises: a frame botocore refuses (bad
        CRC or length), or an exception frame, which the SDK turns into an ``error`` event whose
        type is the frame's ``:exception-type`` (raised as a status error of the 200 response)."""
        if isinstance(exc, ParserError):
            return MalformedStreamError(
                f"bedrock event stream: {type(exc).__name__}: {exc}", provider="bedrock"
            )
        if (
            isinstance(exc, anthropic.APIError)
            and isinstance(exc.body, dict)
            and exc.body.get("type") == "error"
        ):
            error = exc.body.get("error")
            if isinstance(error, dict) and isinstance(error.get("type"), str):
                return map_bedrock_error(None, error, error_type=error["type"])
        return None

    async def _events(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        if call.provider == "bedrock":
            async for event in self._bedrock_events(call, outcome):
                yield event
            return
        if call.api == "messages":
            client = anthropic.AsyncAnthropic(
                api_key=call.api_key, base_url=call.base_url, http_client=call.http_client, max_retries=0
            )
            stream = await client.post(
                "/v1/messages",
                body=call.request,
                cast_to=Message,
                stream=True,
                stream_cls=anthropic.AsyncStream[RawMessageStreamEvent],
            )
            outcome.responded = True
            async with stream:
                # __anext__ rather than ``async for``: the SDK's __aiter__ is a generator of its own,
                # which, left suspended on an early close, would be finalized later in a task of its own
                while (item := await anext(stream, None)) is not None:
                    for event in self.messages_event(item.to_dict(warnings=False), outcome):
                        yield event
            return
        sdk = openai.AsyncOpenAI(
            api_key=call.api_key, base_url=call.base_url, http_client=call.http_client, max_retries=0
        )
        if call.api == "chat":
            # the SDK swallows [DONE] and ends just the same when it never comes: watch the raw bytes
            call.http_client.event_hooks["response"].append(_WatchesForDone(outcome).hook)
            chunks = await sdk.post(
                "/chat/completions",
                body=call.request,
                cast_to=ChatCompletion,
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
            outcome.responded = True
            async with chunks:
                async for chunk in chunks:
                    for event in self.chat_chunk(chunk.to_dict(warnings=False), outcome):
                        yield event
            return
        responses = await sdk.post(
            "/responses",
            body=call.request,
            cast_to=Response,
            stream=True,
            stream_cls=openai.AsyncStream[ResponseStreamEvent],
        )
        outcome.responded = True
        async with responses:
            async for response_event in responses:
                for event in self.responses_event(response_event.to_dict(warnings=False), outcome, call):
                    yield event

    async def _bedrock_events(
        self, call: ConformanceCall, outcome: Outcome
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Anthropic Messages on Bedrock through ``AsyncAnthropicBedrock``'s own stream: the SDK
        signs the request (SigV4, botocore) and decodes the AWS event stream itself."""
        bedrock = anthropic.AsyncAnthropicBedrock(
            base_url=call.base_url, http_client=call.http_client, max_retries=0, **call.credentials
        )
        create = bedrock.messages.create
        known = frozenset(inspect.signature(create).parameters)
        body = {key: value for key, value in call.request.items() if key in known}
        extra = {key: value for key, value in call.request.items() if key not in known}
        stream = await create(**{**body, "model": call.model, "stream": True}, extra_body=extra)
        outcome.responded = True
        async with stream:
            while (item := await anext(stream, None)) is not None:
                for event in self.messages_event(item.to_dict(warnings=False), outcome):
                    yield event

    # -- OpenAI Chat Completions -------------------------------------------------------------------

    def chat_chunk(self, chunk: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")  # Groq reports it in x_groq
        if usage:
            details = usage.get("prompt_tokens_details") or {}
            outcome.usage = {
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": usage.get("completion_tokens"),
                "total_tokens": usage.get("total_tokens"),
                "cached_input_tokens": details.get("cached_tokens"),
                "cache_write_tokens": details.get("cache_write_tokens"),
                "reasoning_tokens": (usage.get("completion_tokens_details") or {}).get("reasoning_tokens"),
            }
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                outcome.reasoning += reasoning
                events.append({"kind": "reasoning", "text": reasoning})
            for detail in (
                delta.get("reasoning_details") or []
            ):  # OpenRouter: the same text again, and signatures
                if detail.get("type") == "reasoning.encrypted":
                    events.append({"kind": "hidden_reasoning", "data": detail.get("data")})
                    continue
                text = "" if reasoning else detail.get("text") or ""
                outcome.reasoning += text
                if detail.get("signature"):
                    outcome.signatures.append(detail["signature"])
                if text or detail.get("signature"):
                    events.append(
                        {"kind": "reasoning", "text": text, "signature": detail.get("signature") or None}
                    )
            if delta.get("content"):
                outcome.text += delta["content"]
                events.append({"kind": "text", "text": delta["content"]})
            if delta.get("refusal"):
                outcome.refused = True
                events.append({"kind": "refusal", "text": delta["refusal"]})
            for call in delta.get("tool_calls") or []:
                key = self.chat_tool_key(outcome, call)
                events.append(self.tool_delta(outcome, key, call.get("id"), call.get("function") or {}))
            word = choice.get("finish_reason")
            if word and outcome.stop_reason is None:  # OpenRouter repeats it on the usage chunk
                reason = CHAT_STOPS.get(word, "other")
                if reason == "end_turn" and (outcome.refused or outcome.tools):
                    reason = "refusal" if outcome.refused else "tool_calls"
                outcome.stop_reason, outcome.provider_stop_reason = reason, word
                events.append({"kind": "stop", "reason": reason, "provider_reason": word})
        return events

    @staticmethod
    def chat_tool_key(outcome: Outcome, call: dict[str, Any]) -> Any:
        """A delta's call: its ``index``; without one (whole calls, Mistral / Gemini style) a new id is
        a new call and no id the latest one."""
        if call.get("index") is not None:
            return call["index"]
        known = [key for key, entry in outcome.tools.items() if call.get("id") and entry["id"] == call["id"]]
        if known:
            return known[0]
        return f"id:{call['id']}" if call.get("id") else next(reversed(outcome.tools), 0)

    @staticmethod
    def tool_delta(
        outcome: Outcome, key: Any, call_id: str | None, function: dict[str, Any]
    ) -> dict[str, Any]:
        first = key not in outcome.tools
        entry = outcome.tools.setdefault(key, {"id": "", "name": "", "arguments": ""})
        entry["id"] = entry["id"] or call_id or ""
        entry["name"] = entry["name"] or function.get("name") or ""
        entry["arguments"] += function.get("arguments") or ""
        index = list(outcome.tools).index(key)
        event: dict[str, Any] = {
            "kind": "tool_call",
            "index": index,
            "arguments": function.get("arguments") or "",
        }
        if first or call_id:
            event["id"] = call_id
        if first or function.get("name"):
            event["name"] = function.get("name")
        return event

    # -- OpenAI Responses --------------------------------------------------------------------------

    def responses_event(
        self, event: dict[str, Any], outcome: Outcome, call: ConformanceCall
    ) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "response.output_text.delta" and event.get("delta"):
            outcome.text += event["delta"]
            return [{"kind": "text", "text": event["delta"]}]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta") and event.get(
            "delta"
        ):
            outcome.reasoning += event["delta"]
            return [{"kind": "reasoning", "block": event.get("output_index") or 0, "text": event["delta"]}]
        if kind == "response.refusal.delta" and event.get("delta"):
            outcome.refused = True
            return [{"kind": "refusal", "text": event["delta"]}]
        if kind == "response.output_item.added" and (event.get("item") or {}).get("type") == "function_call":
            item = event["item"]
            function = {"name": item.get("name"), "arguments": item.get("arguments") or ""}
            return [self.tool_delta(outcome, item.get("id"), item.get("call_id"), function)]
        item = event.get("item") or {}
        if kind == "response.output_item.done" and item.get("type") == "tool_search_call" and item.get("execution") == "client":
            # the application runs this search: a tool call named tool_search whose arguments come
            # whole, as an object, when the item is done
            arguments = json.dumps(item.get("arguments") or {}, separators=(",", ":"))
            function = {"name": "tool_search", "arguments": arguments}
            return [self.tool_delta(outcome, item.get("id"), item.get("call_id"), function)]
        if kind == "response.output_item.done":
            return self.responses_signature(item, event.get("output_index") or 0, outcome)
        if kind == "response.function_call_arguments.delta" and event.get("delta"):
            return [self.tool_delta(outcome, event.get("item_id"), None, {"arguments": event["delta"]})]
        if kind in ("response.completed", "response.incomplete"):
            response = event.get("response") or {}
            signed = [
                self.responses_signature(item, n, outcome)
                for n, item in enumerate(response.get("output") or [])
            ]
            return [*(e for events in signed for e in events), self.responses_end(response, outcome)]
        if kind in ("response.failed", "error"):
            failure = (event.get("response") or {}).get("error") or event
            raise map_openai_error(None, {"error": failure}, provider=call.provider)
        return []

    @staticmethod
    def responses_signature(item: dict[str, Any], position: int, outcome: Outcome) -> list[dict[str, Any]]:
        """A finished reasoning item's encrypted_content signs its block, once."""
        if (
            item.get("type") != "reasoning"
            or not item.get("encrypted_content")
            or position in outcome.signed_blocks
        ):
            return []
        outcome.signed_blocks[position] = item["encrypted_content"]
        return [{"kind": "reasoning", "block": position, "signature": item["encrypted_content"]}]

    @staticmethod
    def responses_end(response: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
        outcome.ended = True
        usage = response.get("usage") or {}
        outcome.usage = {
            "prompt_tokens": usage.get("input_tokens"),
            "completion_tokens": usage.get("output_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "cached_input_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens"),
            "cache_write_tokens": (usage.get("input_tokens_details") or {}).get("cache_write_tokens"),
            "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens"),
        }
        word = (response.get("incomplete_details") or {}).get("reason") or response.get("status")
        reason = {"max_output_tokens": "max_tokens", "content_filter": "content_filter"}.get(
            word or "", "end_turn"
        )
        if reason == "end_turn" and (outcome.refused or outcome.tools):
            reason = "refusal" if outcome.refused else "tool_calls"
        outcome.stop_reason, outcome.provider_stop_reason = reason, word
        return {"kind": "stop", "reason": reason, "provider_reason": word}

    # -- Anthropic Messages ------------------------------------------------------------------------

    def messages_event(self, event: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            self.messages_usage(outcome, (event.get("message") or {}).get("usage") or {})
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                function = {"name": block.get("name"), "arguments": ""}
                return [self.tool_delta(outcome, event.get("index"), block.get("id"), function)]
            if block.get("type") == "redacted_thinking":
                return [
                    {"kind": "hidden_reasoning", "block": event.get("index", 0), "data": block.get("data")}
                ]
        elif kind == "content_block_delta":
            return self.messages_delta(event.get("index", 0), event.get("delta") or {}, outcome)
        elif kind == "content_block_stop":
            call = outcome.tools.get(event.get("index"))
            if (
                call is not None and not call["arguments"]
            ):  # a tool_use without input deltas takes no arguments
                return [self.tool_delta(outcome, event.get("index"), None, {"arguments": "{}"})]
        elif kind == "message_delta":
            self.messages_usage(outcome, event.get("usage") or {})
            word = (event.get("delta") or {}).get("stop_reason")
            if word:
                reason = MESSAGES_STOPS.get(word, "other")
                outcome.stop_reason, outcome.provider_stop_reason = reason, word
                return [{"kind": "stop", "reason": reason, "provider_reason": word}]
        elif kind == "message_stop":
            outcome.ended = True
        return []

    def messages_delta(self, index: int, delta: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            outcome.text += delta["text"]
            return [{"kind": "text", "text": delta["text"]}]
        if kind == "thinking_delta" and delta.get("thinking"):
            outcome.reasoning += delta["thinking"]
            return [{"kind": "reasoning", "block": index, "text": delta["thinking"]}]
        if kind == "signature_delta" and delta.get("signature"):
            outcome.signatures.append(delta["signature"])
            return [{"kind": "reasoning", "block": index, "signature": delta["signature"]}]
        if kind == "input_json_delta" and index in outcome.tools and delta.get("partial_json"):
            return [self.tool_delta(outcome, index, None, {"arguments": delta["partial_json"]})]
        return []

    @staticmethod
    def messages_usage(outcome: Outcome, usage: dict[str, Any]) -> None:
        """Anthropic's counters are cumulative: the latest value replaces the earlier one."""
        raw = outcome.anthropic_usage
        raw.update({k: v for k, v in usage.items() if isinstance(v, int)})
        if isinstance(usage.get("iterations"), list):  # billed: every iteration, not only the last pass
            for key in (
                "input_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
                "output_tokens",
            ):
                counts = [i[key] for i in usage["iterations"] if isinstance(i.get(key), int)]
                if counts:
                    raw[key] = sum(counts)
        thinking = (usage.get("output_tokens_details") or {}).get("thinking_tokens")
        if isinstance(thinking, int):
            raw["thinking_tokens"] = thinking
        read, write = raw.get("cache_read_input_tokens"), raw.get("cache_creation_input_tokens")
        prompt = _sum(raw.get("input_tokens"), read, write)
        outcome.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": raw.get("output_tokens"),
            "total_tokens": _sum(prompt, raw.get("output_tokens")),
            "cached_input_tokens": read,
            "cache_write_tokens": write,
            "reasoning_tokens": raw.get("thinking_tokens"),
        }


def factory() -> SDKAdapter:
    return SDKAdapter()
