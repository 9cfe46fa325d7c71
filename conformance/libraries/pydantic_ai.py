"""pydantic-ai (``pydantic-ai-slim[openai,anthropic]``) at the model level, as an outside adapter.

The recorded request becomes pydantic-ai's own input: ``ModelMessage``s (system prompt, user prompts,
earlier model responses with text / tool calls / thinking, tool returns), ``ToolDefinition``s and
``ModelSettings`` (max tokens, temperature, thinking / reasoning settings). ``OpenAIChatModel``,
``OpenAIResponsesModel`` or ``AnthropicModel`` streams it over an SDK client on the cassette, and
pydantic-ai's own stream events (``PartStartEvent`` / ``PartDeltaEvent``), its final
``ModelResponse`` (usage, ``finish_reason``, ``provider_details``) and its exception categories
(``ModelRateLimitError``, ...) become canonical events and errors.

    pip install "streamproof[pydantic-ai]"; streamproof check --adapter pydantic-ai
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import anthropic
import openai
from anthropic.types import beta
from pydantic_ai import exceptions as pe
from pydantic_ai import messages as pm
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.anthropic import _native_tools as anthropic_native  # its block parsers
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.models.openrouter import OpenRouterModel
from pydantic_ai.native_tools import AbstractNativeTool
from pydantic_ai.native_tools._tool_search import ToolSearchTool  # the ToolSearch capability's own
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.deepseek import DeepSeekProvider
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.providers.openrouter import OpenRouterProvider
from pydantic_ai.tools import ToolDefinition

from ...adapters import errors
from ...adapters.error_mapping import retry_after_seconds
from ..protocol import Capabilities, ConformanceCall
from .base import CHAT_STOPS, MESSAGES_STOPS, RESPONSES_STOPS, LibraryAdapter, Outcome, sdk_client, usage_dict
from .openai_format import content_text

# pydantic-ai's normalized finish reasons (OpenTelemetry's words)
FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_call": "tool_calls",
    "content_filter": "content_filter",
}
PROVIDER_STOPS = {"chat": CHAT_STOPS, "messages": MESSAGES_STOPS, "responses": RESPONSES_STOPS}


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class _History:
    """Builds the ``ModelMessage`` list: consecutive request parts share one ``ModelRequest``."""

    def __init__(self, provider_name: str | None = None) -> None:
        self.messages: list[pm.ModelMessage] = []
        self.tool_names: dict[str, str] = {}
        # the model's ``system``, as pydantic-ai stamps the responses it parsed: it sends a part's
        # item ids, phases and provider-specific items back only to the provider they came from
        self.provider_name = provider_name

    def request_part(self, part: pm.ModelRequestPart) -> None:
        if self.messages and isinstance(self.messages[-1], pm.ModelRequest):
            self.messages[-1].parts = [*self.messages[-1].parts, part]
        else:
            self.messages.append(pm.ModelRequest(parts=[part]))

    def response_part(self, part: pm.ModelResponsePart) -> None:
        if isinstance(part, pm.ToolCallPart):
            self.tool_names[part.tool_call_id] = part.tool_name
        if self.messages and isinstance(self.messages[-1], pm.ModelResponse):
            self.messages[-1].parts = [*self.messages[-1].parts, part]
        else:
            self.messages.append(pm.ModelResponse(parts=[part], provider_name=self.provider_name))

    def tool_return(self, call_id: str, content: Any) -> None:
        name = self.tool_names.get(call_id, "tool")
        self.request_part(
            pm.ToolReturnPart(tool_name=name, content=content_text(content) or content, tool_call_id=call_id)
        )

    def response_items(self, parts: list[pm.ModelResponsePart]) -> None:
        for part in parts:
            self.response_part(part)


def chat_history(request: Mapping[str, Any]) -> list[pm.ModelMessage]:
    history = _History()
    for message in request.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            history.request_part(pm.SystemPromptPart(content=content_text(message.get("content"))))
        elif role == "user":
            history.request_part(pm.UserPromptPart(content=content_text(message.get("content"))))
        elif role == "assistant":
            if content_text(message.get("content")):
                history.response_part(pm.TextPart(content=content_text(message.get("content"))))
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                history.response_part(
                    pm.ToolCallPart(
                        tool_name=function.get("name", ""),
                        args=function.get("arguments"),
                        tool_call_id=call.get("id", ""),
                    )
                )
        elif role == "tool":
            history.tool_return(message.get("tool_call_id", ""), message.get("content"))
    return history.messages


# Anthropic's server-side tool blocks (a server tool's call and its result) as pydantic-ai parses
# them from a response: the SDK's block type and pydantic-ai's own mapper of that block to its part
SERVER_TOOL_BLOCKS: dict[str, tuple[Any, Any]] = {
    "server_tool_use": (beta.BetaServerToolUseBlock, anthropic_native.map_server_tool_use_block),
    "web_search_tool_result": (
        beta.BetaWebSearchToolResultBlock,
        anthropic_native.map_web_search_tool_result_block,
    ),
    "tool_search_tool_result": (
        beta.BetaToolSearchToolResultBlock,
        anthropic_native.map_tool_search_tool_result_block,
    ),
    "code_execution_tool_result": (
        beta.BetaCodeExecutionToolResultBlock,
        anthropic_native.map_code_execution_tool_result_block,
    ),
    "bash_code_execution_tool_result": (
        beta.BetaBashCodeExecutionToolResultBlock,
        anthropic_native.map_bash_code_execution_tool_result_block,
    ),
    "text_editor_code_execution_tool_result": (
        beta.BetaTextEditorCodeExecutionToolResultBlock,
        anthropic_native.map_text_editor_code_execution_tool_result_block,
    ),
}


def messages_history(request: Mapping[str, Any], provider_name: str = "anthropic") -> list[pm.ModelMessage]:
    history = _History(provider_name)
    if request.get("system"):
        history.request_part(pm.SystemPromptPart(content=content_text(request["system"])))
    for message in request.get("messages") or []:
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        for block in blocks:
            kind = block.get("type")
            if message.get("role") == "user":
                if kind == "tool_result":
                    history.tool_return(block.get("tool_use_id", ""), block.get("content"))
                elif kind == "text":
                    history.request_part(pm.UserPromptPart(content=block.get("text", "")))
            elif kind == "text":
                history.response_part(pm.TextPart(content=block.get("text", "")))
            elif kind == "tool_use":
                history.response_part(
                    pm.ToolCallPart(
                        tool_name=block.get("name", ""),
                        args=block.get("input"),
                        tool_call_id=block.get("id", ""),
                    )
                )
            elif kind in SERVER_TOOL_BLOCKS:
                block_type, to_part = SERVER_TOOL_BLOCKS[kind]
                history.response_part(to_part(block_type.model_validate(block), provider_name))
            elif kind == "thinking":
                history.response_part(
                    pm.ThinkingPart(
                        content=block.get("thinking", ""),
                        signature=block.get("signature"),
                        provider_name="anthropic",
                    )
                )
    return history.messages


def responses_history(request: Mapping[str, Any], provider_name: str = "openai") -> list[pm.ModelMessage]:
    """The Responses ``input`` items as the parts pydantic-ai itself makes of the output items of an
    earlier response (its ``OpenAIResponsesModel`` parsing), so that it sends them back as they were."""
    history = _History(provider_name)  # ``instructions`` are instruction parts (see ``instruction_parts``)
    items = request.get("input")
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items or []:
        kind, role = item.get("type", "message"), item.get("role")
        if kind == "message" and role in ("system", "developer"):
            history.request_part(pm.SystemPromptPart(content=content_text(item.get("content"))))
        elif kind == "message" and role == "user":
            history.request_part(pm.UserPromptPart(content=content_text(item.get("content"))))
        elif kind == "function_call_output":
            history.tool_return(item.get("call_id", ""), item.get("output"))
        elif kind == "tool_search_output" and item.get("execution") == "client":
            # the result of pydantic-ai's own ``search_tools`` run: the tools it found
            history.request_part(
                pm.ToolSearchReturnPart(tool_call_id=item.get("call_id", ""), content=_discovered(item))
            )
        else:
            history.response_items(responses_output_parts(item, provider_name))
    return history.messages


def _discovered(item: Mapping[str, Any]) -> Any:
    tools = item.get("tools") or []
    return {"discovered_tools": [{"name": tool["name"]} for tool in tools if tool.get("type") == "function"]}


def responses_output_parts(item: Mapping[str, Any], provider_name: str) -> list[pm.ModelResponsePart]:
    """One output item of an earlier response as pydantic-ai's parts, the way its Responses model
    parses that item (``_process_response``): ids, phase, namespace and raw reasoning kept in the
    part's ``id`` / ``provider_details``, where its request mapping reads them back."""
    kind, item_id = item.get("type", "message"), item.get("id")
    if kind == "message":
        content = item.get("content")
        if not isinstance(content, list):  # an easy input message: text alone
            return [pm.TextPart(content=content_text(content))]
        return [
            pm.TextPart(
                content=part["text"],
                id=item_id,
                provider_name=provider_name,
                provider_details=_text_details(item, part),
            )
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
    if kind == "function_call":
        namespace = item.get("namespace")
        return [
            pm.ToolCallPart(
                tool_name=item.get("name", ""),
                args=item.get("arguments"),
                tool_call_id=item.get("call_id", ""),
                id=item_id,
                provider_name=provider_name,
                provider_details={"namespace": namespace} if namespace else None,
            )
        ]
    if kind == "reasoning":
        return reasoning_parts(item, provider_name)
    if kind == "compaction":
        return [pm.CompactionPart(id=item_id, provider_name=provider_name, provider_details=dict(item))]
    if kind == "tool_search_call" and item.get("execution") == "client":
        return [
            pm.ToolSearchCallPart(
                args=item.get("arguments"),
                tool_call_id=item.get("call_id") or item_id or "",
                id=item_id,
                provider_name=provider_name,
            )
        ]
    if kind == "tool_search_call":
        replay = {key: item.get(key) for key in ("call_id", "execution", "status")}
        return [
            pm.NativeToolSearchCallPart(
                args=item.get("arguments"),
                tool_call_id=item.get("call_id") or item_id or "",
                id=item_id,
                provider_name=provider_name,
                provider_details=replay,
            )
        ]
    if kind == "tool_search_output":
        replay = {key: item.get(key) for key in ("id", "call_id", "execution", "status")}
        return [
            pm.NativeToolSearchReturnPart(
                tool_call_id=item.get("call_id") or item_id or "",
                content=_discovered(item),
                provider_name=provider_name,
                provider_details=replay,
            )
        ]
    return []


def _text_details(item: Mapping[str, Any], part: Mapping[str, Any]) -> dict[str, Any] | None:
    """A text part's ``provider_details`` as pydantic-ai keeps them: the message's phase, and its
    URL / file citations (the annotations it sends back, rebuilt from these)."""
    details: dict[str, Any] = {}
    citations = [
        annotation
        for annotation in part.get("annotations") or []
        if isinstance(annotation, dict) and annotation.get("type") in ("url_citation", "file_citation")
    ]
    if citations:
        details["citations"] = citations
    if item.get("phase"):
        details["phase"] = item["phase"]
    return details or None


def reasoning_parts(item: Mapping[str, Any], provider_name: str) -> list[pm.ModelResponsePart]:
    """A reasoning item as pydantic-ai parses it: a ``ThinkingPart`` per summary part, all with the
    item's id; the encrypted content is the first one's signature, raw reasoning text (DeepSeek,
    gpt-oss ``reasoning_text``) its ``provider_details["raw_content"]``."""
    summaries = [part.get("text", "") for part in item.get("summary") or [] if isinstance(part, dict)]
    raw = [part.get("text", "") for part in item.get("content") or [] if isinstance(part, dict)]
    signature = item.get("encrypted_content")
    if not summaries and not signature and not raw:
        return []
    parts: list[pm.ModelResponsePart] = []
    for number, text in enumerate(summaries or [""]):
        first = number == 0
        parts.append(
            pm.ThinkingPart(
                content=text,
                id=item.get("id"),
                signature=signature if first else None,
                provider_name=provider_name,
                provider_details={"raw_content": raw} if raw and first else None,
            )
        )
    return parts


def instruction_parts(api: str, request: Mapping[str, Any]) -> list[pm.InstructionPart] | None:
    """Responses ``instructions`` as pydantic-ai's instructions (which it sends as ``instructions``;
    a system prompt part would go out as a system message in ``input``)."""
    if api == "responses" and isinstance(request.get("instructions"), str) and request["instructions"]:
        return [pm.InstructionPart(content=request["instructions"])]
    return None


def tool_definitions(api: str, request: Mapping[str, Any]) -> list[ToolDefinition]:
    """The request's function tools (server tools have no pydantic-ai ``ToolDefinition``)."""
    tools = []
    # beside a client tool search, the tools it finds (``defer_loading``) are its corpus: pydantic-ai
    # then renders them as found tools in a ``tool_search_output`` it sends back
    search = next((native.unique_id for native in native_tools(api, request)), None)
    for tool in request.get("tools") or []:
        spec = tool.get("function") if api == "chat" else tool
        if (api == "chat" and tool.get("type") != "function") or (
            api == "responses" and tool.get("type") != "function"
        ):
            continue
        if api == "messages" and tool.get("type") not in (None, "custom"):
            continue
        schema = spec.get("parameters") if api != "messages" else spec.get("input_schema")
        tools.append(
            ToolDefinition(
                name=spec.get("name", ""),
                description=spec.get("description"),
                parameters_json_schema=schema or {"type": "object", "properties": {}},
                strict=spec.get("strict"),
                defer_loading=bool(search and spec.get("defer_loading")),
                with_native=search if search and spec.get("defer_loading") else None,
            )
        )
    return tools


def native_tools(api: str, request: Mapping[str, Any]) -> list[AbstractNativeTool]:
    """A client-executed Responses tool search as what pydantic-ai's ``ToolSearch`` capability gives
    the model for a search function of its own (``ToolSearchTool(strategy="custom")``): with it,
    pydantic-ai sends an earlier ``search_tools`` call and its result back as the
    ``tool_search_call`` / ``tool_search_output`` items they were. (The tools themselves go out as
    recorded, see ``model_settings``.)"""
    tools = request.get("tools") or []
    if api == "responses" and any(
        tool.get("type") == "tool_search" and tool.get("execution") == "client" for tool in tools
    ):
        return [ToolSearchTool(strategy="custom")]
    return []


def model_settings(api: str, request: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    limit = (
        request.get("max_tokens") or request.get("max_completion_tokens") or request.get("max_output_tokens")
    )
    if limit:
        settings["max_tokens"] = limit
    for key in ("temperature", "top_p", "parallel_tool_calls"):
        if key in request:
            settings[key] = request[key]
    if request.get("stop") or request.get("stop_sequences"):
        stop = request.get("stop") or request.get("stop_sequences")
        settings["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    if api == "messages" and request.get("thinking"):
        settings["anthropic_thinking"] = request["thinking"]
    system = request.get("system")
    if api == "messages" and isinstance(system, list) and system and isinstance(system[-1], dict):
        cache = system[-1].get("cache_control") or {}
        if cache.get("type") == "ephemeral":  # pydantic-ai marks the last system block, as recorded
            settings["anthropic_cache_instructions"] = cache.get("ttl") or True
    if api == "chat" and request.get("reasoning") is not None:  # OpenRouter's reasoning settings
        settings["openrouter_reasoning"] = request["reasoning"]
    if api == "chat" and request.get("reasoning_effort"):
        settings["openai_reasoning_effort"] = request["reasoning_effort"]
    reasoning = request.get("reasoning") or {}
    if api == "responses" and reasoning.get("effort"):
        settings["openai_reasoning_effort"] = reasoning["effort"]
    if api == "responses" and reasoning.get("summary"):
        settings["openai_reasoning_summary"] = reasoning["summary"]
    choice = request.get("tool_choice")
    if isinstance(choice, dict):  # Anthropic's {"type": "any" | "tool", ...}, OpenAI's {"function": ...}
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        settings["tool_choice"] = [name] if name else {"any": "required"}.get(choice.get("type", ""), "auto")
    elif choice in ("auto", "none", "required"):
        settings["tool_choice"] = choice
    elif choice == "any":
        settings["tool_choice"] = "required"
    if len(tool_definitions(api, request)) < len(request.get("tools") or []):
        # server tools (web search, code execution, MCP, ...) as recorded: pydantic-ai's native tools
        # take their own settings objects, and tools given in extra_body replace the ones it builds
        settings["extra_body"] = {"tools": request["tools"]}
        if request.get("tool_choice") is not None and not tool_definitions(api, request):
            # pydantic-ai sends a tool_choice only for its own function tools (and refuses
            # "required" without one): beside server tools alone it goes with them, as recorded
            settings.pop("tool_choice", None)
            settings["extra_body"]["tool_choice"] = request["tool_choice"]
    return settings


def build_model(call: ConformanceCall) -> Model:
    model_name = call.request.get("model", "")
    if call.api == "messages":
        client = sdk_client(anthropic.AsyncAnthropic, call)
        return AnthropicModel(model_name, provider=AnthropicProvider(anthropic_client=client))
    sdk = sdk_client(openai.AsyncOpenAI, call)
    # the provider class a pydantic-ai user picks for the host: its profile says which
    # OpenAI-compatible extensions (DeepSeek's reasoning_content, OpenRouter's reasoning_details) to read
    provider: OpenAIProvider | DeepSeekProvider | OpenRouterProvider
    if call.provider == "api.deepseek.com":
        provider = DeepSeekProvider(openai_client=sdk)
    elif call.provider == "openrouter.ai":
        provider = OpenRouterProvider(openai_client=sdk)
    else:
        provider = OpenAIProvider(openai_client=sdk)
    if call.api == "chat" and isinstance(provider, OpenRouterProvider):
        return OpenRouterModel(model_name, provider=provider)
    if call.api == "chat":
        return OpenAIChatModel(model_name, provider=provider)
    return OpenAIResponsesModel(model_name, provider=provider)


class PydanticAIAdapter(LibraryAdapter):
    name = "pydantic-ai"
    capabilities = Capabilities()
    known_gaps: Mapping[str, str] = {}

    async def events(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        model = build_model(call)
        parameters = ModelRequestParameters(
            function_tools=tool_definitions(call.api, call.request),
            native_tools=native_tools(call.api, call.request),
            allow_text_output=True,
            instruction_parts=instruction_parts(call.api, call.request),
        )
        settings: Any = model_settings(call.api, call.request)
        if call.api == "chat":
            messages = chat_history(call.request)
        else:  # under the model's system: pydantic-ai sends provider-specific items back to it alone
            history = responses_history if call.api == "responses" else messages_history
            messages = history(call.request, model.system)
        # pydantic-ai starts a ThinkingPart per Responses summary part: the parts of one reasoning
        # item (the same id) are one block, the first part's
        block_of: dict[int, int] = {}
        block_by_item: dict[str, int] = {}
        async with model.request_stream(messages, settings, parameters) as stream:
            outcome.responded = True
            async for event in stream:
                if isinstance(event, pm.PartStartEvent):
                    if call.api == "responses" and isinstance(event.part, pm.ThinkingPart) and event.part.id:
                        block_of[event.index] = block_by_item.setdefault(event.part.id, event.index)
                    for canonical in self.part_start(block_of.get(event.index, event.index), event.part, outcome):
                        yield canonical
                elif isinstance(event, pm.PartDeltaEvent):
                    for canonical in self.part_delta(block_of.get(event.index, event.index), event.delta, outcome):
                        yield canonical
            response = stream.get()
        usage = response.usage
        prompt = usage.input_tokens
        outcome.usage = usage_dict(
            prompt,
            usage.output_tokens,
            prompt + usage.output_tokens,
            cached=usage.cache_read_tokens,
            cache_write=usage.cache_write_tokens,
            reasoning=usage.details.get("reasoning_tokens"),
        )
        raw = (response.provider_details or {}).get("finish_reason")
        if response.finish_reason is None and raw is None:
            return  # no end seen: the base raises the incomplete-stream error
        if isinstance(raw, str):  # the provider's own word, which pydantic-ai keeps beside its normalized one
            yield outcome.stop(raw, PROVIDER_STOPS[call.api])
        else:
            yield outcome.stop(response.finish_reason, FINISH)

    @staticmethod
    def part_start(index: int, part: pm.ModelResponsePart, outcome: Outcome) -> list[dict[str, Any]]:
        if isinstance(part, pm.TextPart):
            return [outcome.text_delta(part.content)] if part.content else []
        if isinstance(part, pm.ThinkingPart):
            encrypted = (part.provider_details or {}).get("type") == "reasoning.encrypted"  # OpenRouter's
            if part.id == "redacted_thinking" or encrypted:
                # pydantic-ai keeps a redacted / encrypted block's data as its signature
                return [{"kind": "hidden_reasoning", "block": index, "data": part.signature}]
            if part.content or part.signature:
                return [outcome.reasoning_delta(part.content, index, part.signature)]
            return []
        if isinstance(part, pm.ToolCallPart):
            args = part.args if isinstance(part.args, str) or part.args is None else json.dumps(part.args)
            return [outcome.tool_delta(index, part.tool_call_id, part.tool_name, args or "")]
        return []  # native (server-side) tool calls and their returns are not client tool calls

    @staticmethod
    def part_delta(index: int, delta: pm.ModelResponsePartDelta, outcome: Outcome) -> list[dict[str, Any]]:
        if isinstance(delta, pm.TextPartDelta):
            return [outcome.text_delta(delta.content_delta)] if delta.content_delta else []
        if isinstance(delta, pm.ThinkingPartDelta):
            if delta.content_delta or delta.signature_delta:
                return [outcome.reasoning_delta(delta.content_delta or "", index, delta.signature_delta)]
            return []
        if isinstance(delta, pm.ToolCallPartDelta) and index in outcome.tools:
            args = (
                delta.args_delta
                if isinstance(delta.args_delta, str) or delta.args_delta is None
                else json.dumps(delta.args_delta)
            )
            if args or (delta.tool_call_id and not outcome.tools[index]["id"]):
                return [outcome.tool_delta(index, delta.tool_call_id, delta.tool_name_delta, args or "")]
        return []

    def map_error(self, exc: Exception, call: ConformanceCall, outcome: Outcome) -> errors.LLMError | None:
        """pydantic-ai's own error categories, as it classified the failure."""
        provider = call.provider
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, pe.ModelRateLimitError):
            headers = getattr(exc, "headers", None)
            return errors.LLMRateLimitError(
                message, retry_after=retry_after_seconds(headers), provider=provider
            )
        categories: tuple[tuple[type[Exception], type[errors.LLMError]], ...] = (
            (pe.ModelQuotaExceededError, errors.LLMInsufficientCreditsError),
            (pe.ModelOverloadedError, errors.LLMProviderOverloadedError),
            (pe.ModelServerError, errors.LLMServerError),
            (pe.ModelUnavailableError, errors.LLMServerError),
            (pe.ModelContextWindowExceededError, errors.LLMContextWindowExceededError),
            (pe.ModelAuthenticationError, errors.LLMAuthenticationError),
            (pe.ModelNotFoundError, errors.LLMNotFoundError),
            (pe.ModelRequestRejectedError, errors.LLMBadRequestError),
            (pe.ModelTimeoutError, errors.LLMTimeoutError),
        )
        for library_class, ours in categories:
            if isinstance(exc, library_class):
                return ours(message, provider=provider)
        if isinstance(exc, pe.ModelConnectionError):
            cut = getattr(exc, "in_stream", False) or outcome.responded
            return (errors.LLMIncompleteStreamError if cut else errors.LLMConnectionError)(
                message, provider=provider
            )
        if isinstance(exc, pe.ModelHTTPError):
            by_status = {403: errors.LLMPermissionDeniedError, 422: errors.LLMUnprocessableEntityError}
            return by_status.get(
                exc.status_code,
                errors.LLMServerError if exc.status_code >= 500 else errors.LLMBadRequestError,
            )(message, provider=provider)
        if isinstance(exc, pe.ModelAPIError) and isinstance(exc.__cause__, json.JSONDecodeError):
            return errors.MalformedStreamError(
                message, provider=provider
            )  # its "Failed to decode response as JSON"
        if isinstance(exc, pe.UnexpectedModelBehavior):
            return errors.MalformedStreamError(message, provider=provider)
        return super().map_error(exc, call, outcome)


def factory() -> PydanticAIAdapter:
    return PydanticAIAdapter()
