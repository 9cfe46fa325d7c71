"""LangChain (``langchain-openai`` + ``langchain-anthropic``), as an outside adapter would use it.

The recorded request becomes LangChain's input: ``ChatOpenAI`` or ``ChatAnthropic`` built with the
request's model, max tokens and sampling parameters (and thinking), tools bound with
``bind_tools``, the conversation as LangChain messages. ``astream`` yields ``AIMessageChunk``s; their
``content`` (a string, or Anthropic's content blocks: text, thinking with signature, redacted
thinking), ``tool_call_chunks`` become canonical events as they arrive; the chunks added up the way LangChain
aggregates them (``chunk + chunk``) give the usage (``usage_metadata``) and the finish / stop reason
(``response_metadata``). LangChain raises the SDKs' own exceptions, mapped as the SDKs'.

Responses requests are not wrapped: LangChain's Responses mode takes its own input format.

    pip install "streamproof[langchain]"; streamproof check --adapter langchain
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from langchain_anthropic import ChatAnthropic
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, convert_to_messages
from langchain_openai import ChatOpenAI

from ..protocol import Capabilities, ConformanceCall
from .base import CHAT_STOPS, MESSAGES_STOPS, LibraryAdapter, Outcome, usage_dict
from .openai_format import chat_messages, max_tokens


def build_model(call: ConformanceCall) -> BaseChatModel:
    request = call.request
    common: dict[str, Any] = {
        "model": request.get("model", ""),
        "api_key": call.api_key,
        "max_retries": 0,
        "timeout": call.timeout_s,  # the read timeout the suite asks for (ChatAnthropic: its alias)
    }
    if "temperature" in request:
        common["temperature"] = request["temperature"]
    if call.api == "messages":
        common["max_tokens"] = (
            max_tokens(request) or 1024
        )  # ChatAnthropic needs one; Anthropic requests have it
        if request.get("thinking"):
            common["thinking"] = request["thinking"]
        return ChatAnthropic(base_url=call.base_url, **common)
    common["max_tokens"] = max_tokens(request)
    usage = bool((request.get("stream_options") or {}).get("include_usage"))
    if request.get("reasoning") is not None:  # OpenRouter's reasoning settings: ChatOpenAI has no field
        common["extra_body"] = {"reasoning": request["reasoning"]}
    # use_responses_api=False: a chat request stays one (LangChain switches to Responses on server tools)
    return ChatOpenAI(
        base_url=call.base_url,
        http_async_client=call.http_client,
        stream_usage=usage,
        use_responses_api=False,
        **common,
    )


def langchain_tool_choice(api: str, request: Mapping[str, Any]) -> Any:
    """The recorded tool choice as ``bind_tools`` takes it: a tool's name, ``"any"``, ``"auto"``, ..."""
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and api == "messages":
        return choice.get("name") if choice.get("type") == "tool" else choice.get("type")
    if isinstance(choice, dict):
        return (choice.get("function") or {}).get("name") or choice
    return choice


class LangChainAdapter(LibraryAdapter):
    name = "langchain"
    capabilities = Capabilities(apis=frozenset({"chat", "messages"}))
    known_gaps: Mapping[str, str] = {}

    async def events(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        model: Any = build_model(call)
        tools = call.request.get("tools") or []
        choice = langchain_tool_choice(call.api, call.request)
        if call.api == "chat" and any(tool.get("type") != "function" for tool in tools):
            # ChatOpenAI.bind_tools rejects a provider's server tools (OpenRouter's openrouter:web_search):
            # bound as plain call arguments, LangChain hands them to the SDK as they are
            model = model.bind(
                tools=tools, **({"tool_choice": call.request["tool_choice"]} if choice else {})
            )
        elif tools:  # bind_tools takes the provider's own tool dicts, Anthropic's server tools included
            model = model.bind_tools(tools, tool_choice=choice)
        # LangChain's message dicts must carry content, which OpenAI lets a tool-calling turn leave out
        history = [{**m, "content": m.get("content") or ""} for m in chat_messages(call.api, call.request, anthropic_blocks=True)]
        messages = convert_to_messages(history)
        message: AIMessageChunk | None = None  # the chunks added up, as LangChain itself aggregates them
        outcome.responded = True
        async for chunk in model.astream(messages):
            assert isinstance(chunk, AIMessageChunk)
            message = chunk if message is None else message + chunk
            for event in self.content(chunk.content, outcome):
                yield event
            for piece in chunk.tool_call_chunks:
                key = piece.get("index") if piece.get("index") is not None else piece.get("id")
                if key not in outcome.tools and not piece.get("id") and not piece.get("name"):
                    continue
                if piece.get("args") or key not in outcome.tools:
                    yield outcome.tool_delta(key, piece.get("id"), piece.get("name"), piece.get("args") or "")
        if message is None:
            return  # nothing streamed: the base raises the incomplete-stream error
        usage: Mapping[str, Any] = message.usage_metadata or {}
        if usage:
            inputs: Mapping[str, Any] = usage.get("input_token_details") or {}
            outputs: Mapping[str, Any] = usage.get("output_token_details") or {}
            outcome.usage = usage_dict(
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                usage.get("total_tokens"),
                cached=inputs.get("cache_read"),
                cache_write=inputs.get("cache_creation"),
                reasoning=outputs.get("reasoning"),
            )
        metadata = message.response_metadata or {}
        word = metadata.get("stop_reason") if call.api == "messages" else metadata.get("finish_reason")
        if not isinstance(word, str) or not word:
            return  # no finish reason seen: the base raises the incomplete-stream error
        yield outcome.stop(word, MESSAGES_STOPS if call.api == "messages" else CHAT_STOPS)

    @staticmethod
    def content(content: str | list[Any], outcome: Outcome) -> list[dict[str, Any]]:
        """A chunk's content: OpenAI's text, or Anthropic's content blocks (with their ``index``)."""
        if isinstance(content, str):
            return [outcome.text_delta(content)] if content else []
        events = []
        for block in content:
            if not isinstance(block, dict):
                continue
            kind, index = block.get("type"), block.get("index", 0)
            if kind == "text" and block.get("text"):
                events.append(outcome.text_delta(block["text"]))
            elif kind == "thinking" and (block.get("thinking") or block.get("signature")):
                events.append(
                    outcome.reasoning_delta(block.get("thinking") or "", index, block.get("signature"))
                )
            elif kind == "redacted_thinking":
                events.append({"kind": "hidden_reasoning", "block": index, "data": block.get("data")})
        return events


def factory() -> LangChainAdapter:
    return LangChainAdapter()
