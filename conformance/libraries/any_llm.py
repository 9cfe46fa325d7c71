"""any-llm (``any-llm-sdk[openai,anthropic]``), as an outside adapter would use it.

``any_llm.acompletion(provider=..., stream=True)``: the recorded request's conversation and tools in
the OpenAI chat shape any-llm takes for every provider, max tokens, temperature, reasoning effort,
``api_base`` / ``api_key`` for the cassette and ``client_args`` giving the SDK client the suite's
``http_client`` with no retries. Its ``ChatCompletionChunk``s (``delta.content``,
``delta.reasoning``, ``delta.extra_content`` signatures, ``delta.tool_calls``, ``finish_reason``,
``usage``) and its exception classes (``any_llm.exceptions.RateLimitError``, ...) become canonical
events and errors.

any-llm-sdk 1.28 and later require ``anthropic<1``; streamproof needs ``anthropic>=2``, so the extra
pins the newest release that accepts it, 1.27.x. Responses requests are not wrapped.

    pip install "streamproof[any-llm]"; streamproof check --adapter any-llm
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

import any_llm
from any_llm import exceptions as ae

from ...adapters import errors
from ..protocol import Capabilities, ConformanceCall
from .base import CHAT_STOPS, LibraryAdapter, Outcome, model_field, usage_dict
from .openai_format import chat_messages, content_text, function_tools, max_tokens, tool_choice

ERRORS: tuple[tuple[type[Exception], type[errors.LLMError]], ...] = (
    (ae.ContextLengthExceededError, errors.LLMContextWindowExceededError),
    (ae.AuthenticationError, errors.LLMAuthenticationError),
    (ae.ModelNotFoundError, errors.LLMNotFoundError),
    (ae.InsufficientFundsError, errors.LLMInsufficientCreditsError),
    (ae.InvalidRequestError, errors.LLMBadRequestError),
    (ae.GatewayTimeoutError, errors.LLMTimeoutError),
    (ae.UpstreamProviderError, errors.LLMServerError),
    (ae.ProviderError, errors.LLMServerError),
)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: not a number of seconds


def any_llm_messages(api: str, request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The conversation as any-llm's Anthropic provider takes it: an assistant turn's own blocks
    (thinking, server tool use and results) pass through as list content, but a turn with tool
    calls keeps only text content there (``_convert_messages_for_anthropic``), so such a turn's
    content goes as its text."""
    messages = chat_messages(api, request, anthropic_blocks=True)
    for message in messages:
        if message.get("tool_calls") and isinstance(message.get("content"), list):
            message["content"] = content_text(message["content"])
    return messages


class AnyLLMAdapter(LibraryAdapter):
    name = "any-llm"
    capabilities = Capabilities(apis=frozenset({"chat", "messages"}))
    known_gaps: Mapping[str, str] = {
        # any-llm's completion API has reasoning_effort and no thinking budget: its Anthropic provider
        # turns an effort into adaptive thinking, so a recorded {"type": "enabled", "budget_tokens": N}
        # cannot be asked for
        "request.thinking:*anthropic*": "any-llm takes no thinking budget (reasoning_effort only: adaptive thinking)",
    }

    @staticmethod
    def arguments(call: ConformanceCall) -> dict[str, Any]:
        request = call.request
        arguments: dict[str, Any] = {
            "model": request.get("model", ""),
            "provider": "anthropic" if call.api == "messages" else "openai",
            "messages": any_llm_messages(call.api, request),
            "stream": True,
            "api_key": call.api_key,
            "api_base": call.base_url,
            "client_args": {"http_client": call.http_client, "max_retries": 0},
            "timeout": call.timeout_s,
        }
        tools = function_tools(call.api, request, server_tools=True)
        if tools:
            arguments["tools"] = tools
        if request.get("tool_choice") is not None:
            arguments["tool_choice"] = tool_choice(call.api, request)
        if max_tokens(request) is not None:
            arguments["max_tokens"] = max_tokens(request)
        for key in ("temperature", "top_p", "stream_options"):
            if key in request:
                arguments[key] = request[key]
        if call.api == "chat" and request.get("reasoning") is not None:
            # OpenRouter's reasoning settings: any-llm's openai provider hands extra_body to the SDK
            arguments["extra_body"] = {"reasoning": request["reasoning"]}
        effort = request.get("reasoning_effort") or (request.get("thinking") and "medium")
        arguments["reasoning_effort"] = effort or ("none" if call.api == "messages" else "auto")
        return arguments

    async def events(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        stream: Any = await any_llm.acompletion(**self.arguments(call))
        outcome.responded = True
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
                details = usage.prompt_tokens_details
                completion = usage.completion_tokens_details
                outcome.usage = usage_dict(
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.total_tokens,
                    cached=details.cached_tokens if details else None,
                    cache_write=model_field(details, "cache_write_tokens"),
                    reasoning=completion.reasoning_tokens if completion else None,
                )
            for choice in chunk.choices:
                delta = choice.delta
                reasoning = delta.reasoning.content if delta.reasoning is not None else None
                signature = ((delta.extra_content or {}).get("anthropic") or {}).get("signature")
                if reasoning or signature:
                    yield outcome.reasoning_delta(reasoning or "", signature=signature)
                if delta.content:
                    yield outcome.text_delta(delta.content)
                for piece in delta.tool_calls or []:
                    function = piece.function
                    if not (piece.id or (function and (function.name or function.arguments))):
                        continue  # an empty piece says nothing
                    yield outcome.tool_delta(
                        piece.index,
                        piece.id,
                        function.name if function else None,
                        (function.arguments if function else "") or "",
                    )
                if choice.finish_reason and outcome.stop_reason is None:  # OpenRouter repeats it
                    yield outcome.stop(choice.finish_reason, CHAT_STOPS)

    def map_error(self, exc: Exception, call: ConformanceCall, outcome: Outcome) -> errors.LLMError | None:
        """any-llm's own exception classes, as it classified the failure."""
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ae.RateLimitError):
            return errors.LLMRateLimitError(
                message, retry_after=_seconds(exc.retry_after), provider=call.provider
            )
        for library_class, ours in ERRORS:
            if isinstance(exc, library_class):
                return ours(message, provider=call.provider)
        if isinstance(exc, ae.AnyLLMError) and isinstance(exc.original_exception, Exception):
            return super().map_error(exc.original_exception, call, outcome)
        return super().map_error(exc, call, outcome)


def factory() -> AnyLLMAdapter:
    return AnyLLMAdapter()
