"""OpenAI Chat Completions streams, and every OpenAI-compatible server that copies them.

Wire format: ``data: <chunk JSON>`` lines, ending with ``data: [DONE]``. What real servers vary
(REAL-STREAMS.md §3), and how it is read here:

- ``choices`` may be empty (the usage-only chunk, OpenAI's ``moderation`` chunk). Only choice 0
  is read: with ``n > 1`` the other choices' chunks are skipped.
- ``content`` null or ``""`` is no text; ``refusal`` text streams as refusal deltas. Mistral may
  send ``content`` as a list of parts (``text``, and ``thinking`` holding text parts).
- A tool call's ``id`` and ``name`` come on its first delta only; Groq sends the whole call in one
  delta. A delta without ``index`` (non-streamed messages) starts a new call when it has a new id.
- Reasoning: DeepSeek ``reasoning_content``, Groq/OpenRouter ``reasoning``, and OpenRouter's
  ``reasoning_details`` (its text is used only when the plain field carried none, since OpenRouter
  repeats the same text in both; signatures always; encrypted entries become hidden reasoning).
- Usage: top-level ``usage``, else Groq's ``x_groq.usage``; counters are cumulative, so a repeated
  usage object replaces the previous one.
- Errors inside a 200 stream (Groq ``event: error``, OpenRouter's ``error`` object in a chunk) raise
  the mapped ``LLMError``.
- A stream without ``data: [DONE]`` is incomplete, even when ``finish_reason`` was seen: the usage
  chunk comes after the finish chunk, so a cut there would silently lose the token counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from .. import errors as e
from ..clients import ProviderClient, sdk_options
from ..error_mapping import BY_STATUS, build_error, class_by_status, error_object
from ..errors import AdapterConfigError, LLMEmptyResponseError, LLMIncompleteStreamError, MalformedStreamError
from ..events import Usage
from ..framing.sse import SSEEvent
from .base import StreamingInterface

if TYPE_CHECKING:
    import httpx2

FINISH_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


# error "type"/"code" words -> class; checked before the status
_OPENAI_CODES: dict[str, type[e.LLMError]] = {
    "insufficient_quota": e.LLMInsufficientCreditsError,
    "billing_hard_limit_reached": e.LLMInsufficientCreditsError,
    "context_length_exceeded": e.LLMContextWindowExceededError,
    "string_above_max_length": e.LLMContextWindowExceededError,
    "rate_limit_exceeded": e.LLMRateLimitError,
    "invalid_api_key": e.LLMAuthenticationError,
    "model_not_found": e.LLMNotFoundError,
    "server_error": e.LLMServerError,
    "server_is_overloaded": e.LLMProviderOverloadedError,
    "slow_down": e.LLMProviderOverloadedError,
    "invalid_request_error": e.LLMBadRequestError,
    "tool_use_failed": e.LLMBadRequestError,
    "invalid_prompt": e.LLMBadRequestError,
}


def optional_str(value: Any, what: str) -> str | None:
    """``value`` when it is a string or absent; anything else is a malformed field (a TypeError)."""
    if value is None or type(value) is str:
        return value
    raise TypeError(f"{what} {value!r:.40} is not a string")


def chat_usage(raw: dict[str, Any]) -> Usage:
    """A Chat ``usage`` object: prompt tokens include cached ones."""
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = raw.get("prompt_cache_hit_tokens")  # DeepSeek's name for it
    return Usage(
        prompt_tokens=raw.get("prompt_tokens"),
        completion_tokens=raw.get("completion_tokens"),
        total_tokens=raw.get("total_tokens"),
        cached_input_tokens=cached,
        cache_write_tokens=prompt_details.get("cache_write_tokens"),
        reasoning_tokens=completion_details.get("reasoning_tokens"),
    )


class OpenAIChatInterface(StreamingInterface):
    provider = "openai"
    api = "chat"

    def __init__(self, **switches: Any) -> None:
        super().__init__(**switches)
        self._done = False  # ``data: [DONE]`` seen
        self._tool_index_by_id: dict[str, int] = {}

    # -- streaming -------------------------------------------------------------------------------

    def _on_sse(self, sse: SSEEvent, tail: bool = False) -> None:
        if self._done:
            return  # nothing follows [DONE] in the format; stray bytes after it are ignored
        event, data, _ = sse
        if data == "[DONE]":
            self._done = True
            return
        chunk = self._loads(data, tail)
        try:
            if event == "error" or chunk.get("error"):
                raise map_openai_error(None, chunk, provider=self.provider)
            self._on_chunk(chunk)
        except ValidationError as exc:  # a value the canonical model refuses (a usage count of 2**64)
            raise self._invalid(exc) from None
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise MalformedStreamError(
                f"{self.provider} chat stream: unexpected chunk shape ({type(exc).__name__}: {exc}): {data[:80]!r}",
                provider=self.provider,
            ) from None

    def _on_chunk(self, chunk: dict[str, Any]) -> None:
        if self.response_id is None:
            self._identify(chunk)
        choices = chunk.get("choices")
        index = choices[0].get("index") if choices else None
        if (type(index) is not int and index is not None) or (choices and len(choices) > 1):
            self._check_choice_indices(choices or [])
        if choices and not index:  # choice 0 only (absent index: 0)
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if len(delta) == 1 and type(content) is str:  # the common text delta: skip the other fields
                    self._text_delta(content)
                else:
                    self._on_message(delta)
            finish_reason = choice.get("finish_reason")
            if finish_reason and self.stop_reason is None:
                self._on_finish(finish_reason)
        usage = chunk.get("usage")
        if usage is None and "x_groq" in chunk:
            usage = chunk["x_groq"].get("usage")
        if usage:
            self.usage = chat_usage(usage)

    def _check_choice_indices(self, choices: list[dict[str, Any]]) -> None:
        for position, choice in enumerate(choices):
            index = choice.get("index")
            if index is not None and type(index) is not int:
                raise self._not_an_index(f"choices[{position}].index", index)

    def _identify(self, chunk: dict[str, Any]) -> None:
        self.response_id = optional_str(chunk.get("id"), "id")
        self.model = optional_str(chunk.get("model"), "model")

    def _on_eof(self) -> None:
        if not self._done:
            after = f" after finish_reason {self.provider_stop_reason!r}" if self.provider_stop_reason else ""
            raise LLMIncompleteStreamError(
                f"{self.provider} chat stream ended without data: [DONE]{after}", provider=self.provider
            )
        if self.stop_reason is None and self.first_event_at is None:
            raise LLMEmptyResponseError(
                f"{self.provider} chat stream ended with [DONE] but carried no choice", provider=self.provider
            )

    # -- shared by streamed deltas and non-streamed messages -------------------------------------

    def _on_message(self, delta: dict[str, Any]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            self._reasoning_delta(0, reasoning)
        details = delta.get("reasoning_details")
        if details:
            self._on_reasoning_details(details, text_seen=bool(reasoning))
        content = delta.get("content")
        if isinstance(content, list):
            self._on_content_parts(content)
        elif content:
            self._text_delta(content)
        refusal = delta.get("refusal")
        if refusal:
            self._refusal_delta(refusal)
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            for position, call in enumerate(tool_calls):
                function = call.get("function") or {}
                index = call.get("index")
                if index is not None and type(index) is not int:
                    raise self._not_an_index(f"tool_calls[{position}].index", index)
                self._tool_delta(
                    self._tool_index(index, call.get("id")),
                    call.get("id"),
                    function.get("name"),
                    function.get("arguments") or "",
                )
        function_call = delta.get("function_call")  # the deprecated single-function form
        if function_call:
            self._tool_delta(0, None, function_call.get("name"), function_call.get("arguments") or "")

    def _tool_index(self, index: int | None, call_id: str | None) -> int:
        if index is not None:
            if call_id:
                self._tool_index_by_id.setdefault(call_id, index)
            return index
        if call_id and call_id not in self._tool_index_by_id:
            self._tool_index_by_id[call_id] = len(self._tools)
        if call_id:
            return self._tool_index_by_id[call_id]
        return max(self._tools) if self._tools else 0  # a continuation of the latest call

    def _on_content_parts(self, parts: list[dict[str, Any]]) -> None:
        """Mistral's list-shaped content: ``text`` parts, and ``thinking`` parts that hold text parts."""
        for part in parts:
            if part.get("type") == "text":
                self._text_delta(part.get("text") or "")
            elif part.get("type") == "thinking":
                for inner in part.get("thinking") or ():
                    self._reasoning_delta(0, inner.get("text") or "")

    def _on_reasoning_details(self, details: list[dict[str, Any]], text_seen: bool) -> None:
        for detail in details:
            kind = detail.get("type")
            if kind == "reasoning.encrypted":
                self._hidden_reasoning(0, "redacted", detail.get("data"))
                continue
            text = "" if text_seen else (detail.get("text") or detail.get("summary") or "")
            self._reasoning_delta(0, text, detail.get("signature") or None)

    def _on_finish(self, finish_reason: str) -> None:
        reason = FINISH_REASONS.get(finish_reason, "other")
        if reason == "end_turn":
            if self._refusal is not None:
                reason = "refusal"
            elif self._tools:
                reason = "tool_calls"  # some compatible servers say "stop" after tool calls
        self._stop(reason, finish_reason)

    # -- non-streamed ----------------------------------------------------------------------------

    def _on_json_response(self, body: dict[str, Any]) -> None:
        try:
            if body.get("error"):
                raise map_openai_error(None, body, provider=self.provider)
            self._identify(body)
            choices = body.get("choices") or []
            if choices:
                self._on_message(choices[0].get("message") or {})
                if choices[0].get("finish_reason"):
                    self._on_finish(choices[0]["finish_reason"])
            if body.get("usage"):
                self.usage = chat_usage(body["usage"])
        except ValidationError as exc:
            raise self._invalid(exc) from None
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise MalformedStreamError(
                f"{self.provider} chat response: unexpected JSON shape ({type(exc).__name__}: {exc})",
                provider=self.provider,
            ) from None


# -- its error table ---------------------------------------------------------------------------------


def map_openai_error(
    status: int | None,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    provider: str = "openai",
) -> e.LLMError:
    """OpenAI and OpenAI-compatible servers (Groq, OpenRouter, ...): HTTP errors and stream errors."""
    err = error_object(body)
    code = err.get("code")
    code = str(code) if code is not None else None
    etype = err.get("type")
    message = str(err.get("message") or f"{provider} error")
    if status is None and isinstance(err.get("status_code"), int):  # Groq's mid-stream error
        status = err["status_code"]
    if status is None and code is not None and code.isdigit():  # OpenRouter puts the status in code
        status = int(code)
    cls = _OPENAI_CODES.get(code or "") or _OPENAI_CODES.get(str(etype or ""))
    if cls is e.LLMBadRequestError and status is not None and status in BY_STATUS and status != 400:
        cls = None  # a generic "invalid_request_error" type: the status says more
    return build_error(
        class_by_status(cls, status),
        message,
        provider=provider,
        status=status,
        request_id=request_id,
        code=code,
        body=body,
        headers=headers,
    )


# -- its client: the openai SDK (Chat and Responses alike) -------------------------------------------


class OpenAIClient(ProviderClient):
    sdk = "openai"
    apis = frozenset({"chat", "responses"})
    paths: ClassVar[dict[str, str]] = {"chat": "/chat/completions", "responses": "/responses"}

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_retries: int | None = None,  # None: the SDK's default
        timeout: float | httpx2.Timeout | None = None,
    ) -> None:
        import openai

        super().__init__(http_client, transport)
        options = sdk_options(timeout, max_retries)
        try:
            self.sdk_client = openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                http_client=self.http_client,
                **options,
            )
        except openai.OpenAIError as exc:  # no key given and none in OPENAI_API_KEY, and the like
            raise AdapterConfigError(f"cannot build the openai client: {exc}") from exc

    @asynccontextmanager
    async def _exchange(self, api: str, request_data: Mapping[str, Any]) -> AsyncIterator[httpx2.Response]:
        # ``post`` is what the typed ``create`` methods end in, minus their per-call walk over the
        # parameters (about half the SDK's ~0.9 ms per request); fields the SDK does not know
        # (OpenRouter's ``provider``, vLLM's ``top_k``) go through as they are.
        import httpx2

        response = await self.sdk_client.post(
            self.paths[api],
            cast_to=httpx2.Response,
            body=dict(request_data),
            options={"security": {"bearer_auth": True}},
            stream=True,
        )
        try:
            yield response
        finally:
            await response.aclose()


# -- its URL rule and its requests --------------------------------------------------------------------


def matches_url(host: str, path: str) -> bool:
    """``.../chat/completions``, on any host (every compatible server keeps the path)."""
    return path.rstrip("/").endswith("/chat/completions")


def takes_request(request_data: Mapping[str, Any]) -> bool:
    """A Chat call unless it is a Responses one (``input`` without ``messages``)."""
    return not ("input" in request_data and "messages" not in request_data)


def streamed_request(payload: dict[str, Any], provider: str) -> dict[str, Any]:
    """OpenAI itself reports a stream's usage only when asked (``stream_options.include_usage``).

    Compatible servers differ (some reject the field), so for them the caller's request decides.
    """
    if provider == "openai" and "stream_options" not in payload:
        payload["stream_options"] = {"include_usage": True}
    return payload
