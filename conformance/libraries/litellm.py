"""LiteLLM, as an outside adapter would use it: ``litellm.acompletion(..., stream=True)``.

The recorded request becomes LiteLLM's input: the model as ``openai/<model>`` or
``anthropic/<model>``, the conversation and tools in the OpenAI chat shape LiteLLM takes for every
provider, max tokens, temperature, thinking / reasoning effort, ``api_base`` and ``api_key`` for the
cassette, no retries. Its ``ModelResponseStream`` chunks (``delta.content``,
``delta.reasoning_content`` / ``thinking_blocks``, ``delta.tool_calls``, ``finish_reason``, ``usage``)
and its exception classes (``litellm.RateLimitError``, ...) become canonical events and errors.

LiteLLM is set to use httpx (not its aiohttp transport, which the suite does not serve) and its
bundled model cost map (it would fetch one at import otherwise).

Responses requests are not wrapped (``litellm.aresponses`` is another surface).

    pip install "streamproof[litellm]"; streamproof check --adapter litellm
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Mapping
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

import litellm
from litellm import exceptions as le

from ...adapters import errors
from ...adapters.error_mapping import retry_after_seconds
from ..protocol import Capabilities, ConformanceCall
from .base import CHAT_STOPS, LibraryAdapter, Outcome, model_field, usage_dict
from .openai_format import chat_messages, function_tools, max_tokens, tool_choice

litellm.disable_aiohttp_transport = True  # httpx, which the suite routes to the cassette
litellm.telemetry = False

# the Anthropic tool fields LiteLLM takes on an OpenAI function tool (its ChatCompletionToolParam)
ANTHROPIC_TOOL_FIELDS = ("cache_control", "defer_loading", "allowed_callers", "eager_input_streaming")

# LiteLLM's exception classes, most specific first, and the streamproof error each is
ERRORS: tuple[tuple[type[Exception], type[errors.LLMError]], ...] = (
    (le.ContextWindowExceededError, errors.LLMContextWindowExceededError),
    (le.PaymentRequiredError, errors.LLMInsufficientCreditsError),
    (le.AuthenticationError, errors.LLMAuthenticationError),
    (le.PermissionDeniedError, errors.LLMPermissionDeniedError),
    (le.NotFoundError, errors.LLMNotFoundError),
    (le.UnprocessableEntityError, errors.LLMUnprocessableEntityError),
    (le.BadRequestError, errors.LLMBadRequestError),
    (le.Timeout, errors.LLMTimeoutError),
    (le.ServiceUnavailableError, errors.LLMServerError),
    (le.InternalServerError, errors.LLMServerError),
    (le.APIConnectionError, errors.LLMConnectionError),
)


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


class LiteLLMAdapter(LibraryAdapter):
    name = f"litellm {litellm.version if isinstance(getattr(litellm, 'version', None), str) else ''}".strip()
    capabilities = Capabilities(apis=frozenset({"chat", "messages"}))
    known_gaps: Mapping[str, str] = {}

    @staticmethod
    def arguments(call: ConformanceCall) -> dict[str, Any]:
        request = call.request
        prefix = "anthropic" if call.api == "messages" else "openai"
        arguments: dict[str, Any] = {
            "model": f"{prefix}/{request.get('model', '')}",
            "messages": chat_messages(call.api, request, anthropic_blocks=True),
            "stream": True,
            "api_base": call.base_url,
            "api_key": call.api_key,
            "num_retries": 0,
            "max_retries": 0,
            "timeout": call.timeout_s,
        }
        tools = function_tools(call.api, request, server_tools=True, tool_fields=ANTHROPIC_TOOL_FIELDS)
        if tools:
            arguments["tools"] = tools
        if max_tokens(request) is not None:
            arguments["max_tokens"] = max_tokens(request)
        for key in ("temperature", "top_p", "stream_options", "reasoning_effort", "thinking"):
            if key in request:
                arguments[key] = request[key]
        if request.get("tool_choice") is not None:
            arguments["tool_choice"] = tool_choice(call.api, request)
        if call.api == "chat" and request.get("reasoning") is not None:
            # OpenRouter's reasoning settings: no LiteLLM parameter of the openai/ route carries them
            arguments["extra_body"] = {"reasoning": request["reasoning"]}
        if call.api == "messages":  # Anthropic always streams usage; LiteLLM passes it on only when asked
            arguments["stream_options"] = {"include_usage": True}
        return arguments

    async def events(self, call: ConformanceCall, outcome: Outcome) -> AsyncGenerator[dict[str, Any], None]:
        stream = await litellm.acompletion(**self.arguments(call))
        outcome.responded = True
        # LiteLLM's deltas carry no block index: a thinking block ends with its signature, and a
        # redacted block comes whole as one ``thinking_blocks`` entry, so each ends the block
        block = 0
        async for chunk in stream:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.take_usage(usage, outcome)
            for choice in chunk.choices:
                delta = choice.delta
                reasoning = getattr(delta, "reasoning_content", None)
                if isinstance(reasoning, str) and reasoning:
                    yield outcome.reasoning_delta(reasoning, block)
                for thinking in getattr(delta, "thinking_blocks", None) or []:
                    if isinstance(thinking, dict) and thinking.get("signature"):
                        yield outcome.reasoning_delta("", block, thinking["signature"])
                        block += 1
                    elif isinstance(thinking, dict) and thinking.get("type") == "redacted_thinking":
                        yield {"kind": "hidden_reasoning", "block": block, "data": thinking.get("data")}
                        block += 1
                if delta.content:
                    yield outcome.text_delta(delta.content)
                for piece in delta.tool_calls or []:
                    function = piece.function
                    if not (piece.id or function.name or function.arguments):
                        continue  # an empty piece says nothing
                    yield outcome.tool_delta(piece.index, piece.id, function.name, function.arguments or "")
                if choice.finish_reason and outcome.stop_reason is None:  # OpenRouter repeats it
                    yield outcome.stop(choice.finish_reason, CHAT_STOPS)

    @staticmethod
    def take_usage(usage: Any, outcome: Outcome) -> None:
        prompt_details = getattr(usage, "prompt_tokens_details", None)
        completion_details = getattr(usage, "completion_tokens_details", None)
        outcome.usage = usage_dict(
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens,
            cached=getattr(prompt_details, "cached_tokens", None),
            # LiteLLM's own field for cache writes, whatever the provider (Anthropic's is also at the top)
            cache_write=_first(
                model_field(prompt_details, "cache_write_tokens"),
                model_field(usage, "cache_creation_input_tokens"),
            ),
            reasoning=getattr(completion_details, "reasoning_tokens", None),
        )

    def map_error(self, exc: Exception, call: ConformanceCall, outcome: Outcome) -> errors.LLMError | None:
        """LiteLLM's own exception classes, as it classified the failure."""
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, le.RateLimitError):
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None)
            retry_after = retry_after_seconds(headers) if isinstance(headers, Mapping) else None
            return errors.LLMRateLimitError(message, retry_after=retry_after, provider=call.provider)
        original = getattr(exc, "original_exception", None)
        if isinstance(exc, le.MidStreamFallbackError) and isinstance(original, Exception):
            exc = original  # LiteLLM's wrapper for a failure after the stream began; the cause is inside
            message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, le.APIConnectionError) and outcome.responded:
            return errors.LLMIncompleteStreamError(message, provider=call.provider)
        for library_class, ours in ERRORS:
            if isinstance(exc, library_class):
                return ours(message, provider=call.provider)
        if isinstance(exc, le.APIError):
            status = getattr(exc, "status_code", 500)
            ours_for_status = errors.LLMServerError if status >= 500 else errors.LLMBadRequestError
            return ours_for_status(message, provider=call.provider)
        return super().map_error(exc, call, outcome)


def factory() -> LiteLLMAdapter:
    return LiteLLMAdapter()
