"""The official SDKs' own high-level stream helpers, as an outside adapter would use them.

``anthropic``'s ``client.messages.stream(...)``, ``openai``'s ``client.chat.completions.stream(...)``
and ``client.responses.stream(...)``: each accumulates the stream itself and fires typed events
(``text``, ``thinking``, ``signature``, ``input_json``; ``content.delta``,
``tool_calls.function.arguments.delta``; ``response.output_text.delta``...). This wrapper maps those
events, and the helper's final message / completion / response (usage, stop reason), to canonical
events. No extra is needed: the SDKs are streamproof's own dependencies.

    streamproof check --adapter sdk-helpers
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import anthropic
import openai
from anthropic.lib.streaming._types import InputJsonEvent, SignatureEvent, TextEvent, ThinkingEvent
from anthropic.types import RawContentBlockStartEvent
from openai.lib.streaming.chat import (
    ChunkEvent,
    ContentDeltaEvent,
    FunctionToolCallArgumentsDeltaEvent,
    RefusalDeltaEvent,
)
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseRefusalDeltaEvent,
    ResponseTextDeltaEvent,
)

from ...adapters.formats.openai_chat import map_openai_error
from ..protocol import Capabilities, ConformanceCall
from .base import (
    CHAT_STOPS,
    MESSAGES_STOPS,
    RESPONSES_STOPS,
    LibraryAdapter,
    Outcome,
    model_field,
    plain,
    sdk_client,
    usage_dict,
)


def helper_arguments(helper: Callable[..., Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded request as the helper's keyword arguments: the parameters it names are passed
    as such, everything else goes in ``extra_body`` (sent unchanged). ``stream`` is the helper's."""
    named = set(inspect.signature(helper).parameters) - {"extra_body", "extra_headers", "extra_query"}
    arguments = {key: value for key, value in request.items() if key in named}
    extra = {key: value for key, value in request.items() if key not in named and key != "stream"}
    if extra:
        arguments["extra_body"] = extra
    return arguments


def _sum(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class SDKHelpersAdapter(LibraryAdapter):
    name = f"sdk-helpers (openai {openai.__version__}, anthropic {anthropic.__version__})"
    capabilities = Capabilities()
    known_gaps: Mapping[str, str] = {}

    def events(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        if call.api == "messages":
            return self.messages(call, outcome)
        if call.api == "chat":
            return self.chat(call, outcome)
        return self.responses(call, outcome)

    # -- Anthropic: client.messages.stream ---------------------------------------------------------

    async def messages(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        client = sdk_client(anthropic.AsyncAnthropic, call)
        manager = client.messages.stream(**helper_arguments(client.messages.stream, call.request))
        async with manager as stream:
            outcome.responded = True
            block = 0
            while (event := await anext(stream, None)) is not None:
                if isinstance(event, RawContentBlockStartEvent):
                    block = event.index
                    content = event.content_block
                    if content.type == "tool_use":
                        yield outcome.tool_delta(block, content.id, content.name)
                    elif content.type == "redacted_thinking":
                        yield {"kind": "hidden_reasoning", "block": block, "data": content.data}
                elif isinstance(event, TextEvent) and event.text:
                    yield outcome.text_delta(event.text)
                elif isinstance(event, ThinkingEvent) and event.thinking:
                    yield outcome.reasoning_delta(event.thinking, block)
                elif isinstance(event, SignatureEvent) and event.signature:
                    yield outcome.reasoning_delta("", block, event.signature)
                elif isinstance(event, InputJsonEvent) and event.partial_json and block in outcome.tools:
                    yield outcome.tool_delta(block, arguments=event.partial_json)
            message = await stream.get_final_message()
        usage = message.usage
        read, write = usage.cache_read_input_tokens, usage.cache_creation_input_tokens
        prompt = _sum(usage.input_tokens, read, write)
        # output_tokens_details.thinking_tokens: a field the SDK's Usage model keeps as an extra
        details = (
            plain(
                getattr(usage, "output_tokens_details", None)
                or (usage.model_extra or {}).get("output_tokens_details")
            )
            or {}
        )
        outcome.usage = usage_dict(
            prompt,
            usage.output_tokens,
            _sum(prompt, usage.output_tokens),
            cached=read,
            cache_write=write,
            reasoning=details.get("thinking_tokens") if isinstance(details, dict) else None,
        )
        yield outcome.stop(message.stop_reason, MESSAGES_STOPS)

    # -- OpenAI: client.chat.completions.stream ----------------------------------------------------

    async def chat(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        client = sdk_client(openai.AsyncOpenAI, call)
        completions = client.chat.completions
        async with completions.stream(**helper_arguments(completions.stream, call.request)) as stream:
            outcome.responded = True
            # the finish reason the helper's snapshot took from a chunk; it stops the response once that
            # chunk's own events are out, so an error the provider sends after it does not lose it
            finished: str | None = None
            while True:
                try:
                    event = await anext(stream, None)
                except Exception:
                    if finished and not outcome.ended:
                        yield outcome.stop(finished, CHAT_STOPS)
                    raise
                if event is None:
                    break
                if isinstance(event, ChunkEvent):
                    if finished and not outcome.ended:
                        yield outcome.stop(finished, CHAT_STOPS)
                    choices = event.snapshot.choices
                    finished = choices[0].finish_reason if choices else None
                    # the helper fires no event for reasoning: it is in the chunk's delta extras
                    for choice in event.chunk.choices:
                        for reasoning in self.chat_reasoning(choice.delta.model_extra or {}, outcome):
                            yield reasoning
                elif isinstance(event, ContentDeltaEvent) and event.delta:
                    yield outcome.text_delta(event.delta)
                elif isinstance(event, RefusalDeltaEvent) and event.delta:
                    yield outcome.refusal_delta(event.delta)
                elif isinstance(event, FunctionToolCallArgumentsDeltaEvent):
                    snapshot = stream.current_completion_snapshot.choices[0].message.tool_calls or []
                    call_id = snapshot[event.index].id if event.index < len(snapshot) else None
                    yield outcome.tool_delta(event.index, call_id, event.name, event.arguments_delta)
            completion = await stream.get_final_completion()
        usage = completion.usage
        if usage is not None:
            prompt_details, completion_details = usage.prompt_tokens_details, usage.completion_tokens_details
            outcome.usage = usage_dict(
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens,
                cached=prompt_details.cached_tokens if prompt_details else None,
                cache_write=model_field(prompt_details, "cache_write_tokens"),
                reasoning=completion_details.reasoning_tokens if completion_details else None,
            )
        word = completion.choices[0].finish_reason if completion.choices else None
        if word is None or outcome.ended:
            return  # never finished (the base raises the incomplete-stream error), or stopped already
        yield outcome.stop(word, CHAT_STOPS)

    @staticmethod
    def chat_reasoning(extra: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
        """OpenAI-compatible reasoning fields the SDK keeps as extras: ``reasoning_content`` (DeepSeek),
        ``reasoning`` and ``reasoning_details`` (OpenRouter: the same text again, signatures, and
        encrypted blocks)."""
        events = []
        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events.append(outcome.reasoning_delta(reasoning))
        for detail in extra.get("reasoning_details") or []:
            if not isinstance(detail, dict):
                continue
            if detail.get("type") == "reasoning.encrypted":
                events.append({"kind": "hidden_reasoning", "data": detail.get("data")})
                continue
            text = "" if reasoning else detail.get("text") or ""
            if text or detail.get("signature"):
                events.append(outcome.reasoning_delta(text, signature=detail.get("signature")))
        return events

    # -- OpenAI: client.responses.stream -----------------------------------------------------------

    async def responses(
        self, call: ConformanceCall, outcome: Outcome
    ) -> AsyncGenerator[dict[str, Any], None]:
        client = sdk_client(openai.AsyncOpenAI, call)
        signed: dict[int, str] = {}
        async with client.responses.stream(
            **helper_arguments(client.responses.stream, call.request)
        ) as stream:
            outcome.responded = True
            async for event in stream:
                if isinstance(event, ResponseTextDeltaEvent) and event.delta:
                    yield outcome.text_delta(event.delta)
                elif isinstance(
                    event, (ResponseReasoningSummaryTextDeltaEvent, ResponseReasoningTextDeltaEvent)
                ):
                    if event.delta:
                        yield outcome.reasoning_delta(event.delta)
                elif isinstance(event, ResponseRefusalDeltaEvent) and event.delta:
                    yield outcome.refusal_delta(event.delta)
                elif isinstance(event, ResponseOutputItemAddedEvent) and event.item.type == "function_call":
                    item = event.item
                    yield outcome.tool_delta(item.id, item.call_id, item.name, item.arguments or "")
                elif isinstance(event, ResponseFunctionCallArgumentsDeltaEvent) and event.delta:
                    yield outcome.tool_delta(event.item_id, arguments=event.delta)
                elif isinstance(event, ResponseOutputItemDoneEvent):
                    item_fields = plain(event.item)
                    if item_fields.get("type") == "tool_search_call" and item_fields.get("execution") == "client":
                        # a tool search the application runs: its arguments come whole, as an object
                        arguments = json.dumps(item_fields.get("arguments") or {}, separators=(",", ":"))
                        yield outcome.tool_delta(item_fields.get("id"), item_fields.get("call_id"), "tool_search", arguments)
                    for signature in self.signature(item_fields, event.output_index, signed):
                        yield signature
                elif isinstance(event, ResponseFailedEvent):
                    failure = plain(event.response).get("error") or {}
                    raise map_openai_error(None, {"error": failure}, provider=call.provider)
                elif isinstance(event, ResponseErrorEvent):
                    raise map_openai_error(None, {"error": plain(event)}, provider=call.provider)
                elif isinstance(event, (ResponseCompletedEvent, ResponseIncompleteEvent)):
                    # the terminal event's response: get_final_response() knows only response.completed
                    # and raises RuntimeError on an incomplete (max_output_tokens) response
                    response: Response = event.response
                    break
            else:
                return  # no terminal event: the base raises the incomplete-stream error
        for position, output in enumerate(response.output):
            for signature in self.signature(plain(output), position, signed):
                yield signature
        outcome.signatures = [signed[key] for key in sorted(signed)]
        usage = response.usage
        if usage is not None:
            outcome.usage = usage_dict(
                usage.input_tokens,
                usage.output_tokens,
                usage.total_tokens,
                cached=usage.input_tokens_details.cached_tokens if usage.input_tokens_details else None,
                cache_write=plain(usage.input_tokens_details).get("cache_write_tokens")
                if usage.input_tokens_details
                else None,
                reasoning=usage.output_tokens_details.reasoning_tokens
                if usage.output_tokens_details
                else None,
            )
        word = (
            response.incomplete_details.reason if response.incomplete_details else None
        ) or response.status
        yield outcome.stop(word, RESPONSES_STOPS)

    @staticmethod
    def signature(item: dict[str, Any], position: int, signed: dict[int, str]) -> list[dict[str, Any]]:
        """A finished reasoning item's ``encrypted_content`` signs its block, once."""
        if item.get("type") != "reasoning" or not item.get("encrypted_content") or position in signed:
            return []
        signed[position] = item["encrypted_content"]
        return [{"kind": "reasoning", "block": position, "signature": item["encrypted_content"]}]


def factory() -> SDKHelpersAdapter:
    return SDKHelpersAdapter()
