"""Anthropic Messages: the SSE stream (and the non-streamed message JSON) as canonical events.

Also serves Anthropic-compatible endpoints (MiniMax). What real streams do, and what this handles
(REAL-STREAMS.md §2-§3):

- JSON padded with spaces before the closing brace; ``ping`` anywhere, inside a block too.
- ``thinking`` blocks open with empty strings; ``thinking_delta`` pieces; one ``signature_delta``
  just before ``content_block_stop``, sent on as its own ``ReasoningDelta`` (empty text) on the same
  block, never patched into an event already sent. A thinking block may carry only a signature.
- ``redacted_thinking`` arrives whole in ``content_block_start``: one ``HiddenReasoning``.
- Server tools (``server_tool_use``, ``*_tool_result``, ``mcp_tool_use``, ...) are not client tool
  calls: their blocks and deltas are ignored, as are ``citations_delta`` and unknown blocks, deltas,
  events and fields.
- ``tool_use`` opens with a placeholder ``input: {}`` that the concatenated ``partial_json`` pieces
  replace; when no piece arrives the input really is what the start said (``{}``), and that is
  sent as the call's last delta, so the deltas always add up to the arguments in the result.
- Usage is cumulative and split across ``message_start`` and ``message_delta``: a reported
  counter overwrites the one before, never adds to it. Newer models report the reasoning count as
  ``usage.output_tokens_details.thinking_tokens``; older ones do not (then it stays None, not 0).
  Compaction and advisor streams add ``usage.iterations`` (one entry per model pass): then the
  counters are the sums over the iterations, what is billed (``events.Usage``).
- ``event: error`` (``overloaded_error`` and the like) raises the mapped ``LLMError``; a stream
  without ``message_stop`` raises ``LLMIncompleteStreamError``; a delta for a block that is not
  open, or content before ``message_start`` / after ``message_stop``, raises
  ``MalformedStreamError`` naming what was wrong.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from pydantic import ValidationError

from .. import errors as e
from ..clients import ProviderClient, as_keywords, sdk_options
from ..error_mapping import build_error, class_by_status, error_object
from ..errors import AdapterConfigError, LLMIncompleteStreamError, MalformedStreamError
from ..events import USAGE_COUNT_LIMIT, Usage, trusted_text_delta
from ..framing.sse import SSEEvent
from .base import StreamingInterface

if TYPE_CHECKING:
    import httpx2

STOP_REASONS: dict[str, str] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "context_window",
}

# kinds of open content blocks
_TEXT = 0
_THINKING = 1
_TOOL = 2
_IGNORED = 3  # server tools, results, unknown block types

_ANTHROPIC_TYPES: dict[str, type[e.LLMError]] = {
    "invalid_request_error": e.LLMBadRequestError,
    "authentication_error": e.LLMAuthenticationError,
    "billing_error": e.LLMInsufficientCreditsError,
    "permission_error": e.LLMPermissionDeniedError,
    "not_found_error": e.LLMNotFoundError,
    "request_too_large": e.LLMContextWindowExceededError,
    "rate_limit_error": e.LLMRateLimitError,
    "api_error": e.LLMServerError,
    "timeout_error": e.LLMTimeoutError,
    "overloaded_error": e.LLMProviderOverloadedError,
}

_USAGE_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


class _ToolBlock:
    __slots__ = ("call", "has_arguments", "placeholder")

    def __init__(self, call: int, placeholder: object) -> None:
        self.call = call  # index of this client tool call among the response's tool calls
        self.placeholder = placeholder  # the ``input`` of content_block_start
        self.has_arguments = False


class AnthropicMessagesInterface(StreamingInterface):
    provider: ClassVar[str] = "anthropic"
    api: ClassVar[str] = "messages"

    def __init__(self, **switches: Any) -> None:
        super().__init__(**switches)
        self._open: dict[int, int] = {}  # content-block index -> kind, while the block is open
        self._stopped_blocks: set[int] = set()
        self._tool_blocks: dict[int, _ToolBlock] = {}
        self._counters: dict[str, int | None] = dict.fromkeys(_USAGE_FIELDS)
        self._thinking_tokens: int | None = None  # usage.output_tokens_details.thinking_tokens
        self._started = False  # message_start seen
        self._message_stopped = False

    # -- streaming -------------------------------------------------------------------------------

    def _on_sse(self, sse: SSEEvent, tail: bool = False) -> None:
        event, raw, _ = sse
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = self._loads(raw, tail)  # raises the error that says what was wrong
        kind: object = None
        try:
            kind = data["type"]
            if kind == "content_block_delta":
                index = data["index"]
                delta = data["delta"]
                if type(index) is not int:  # True or 1.0 would find block 1
                    raise self._not_an_index("content_block_delta index", index)
                block = self._open.get(index)
                if block == _TEXT and delta["type"] == "text_delta":  # the hot path
                    text = delta["text"]
                    if type(text) is not str:
                        raise self._malformed(f"text_delta of block {index} has a non-string text")
                    if text:  # self._text_delta(text), inlined: a call per token was ~3 % of the path
                        self._text.append(text)
                        self._seq += 1
                        if self.first_event_at is None:
                            self.first_event_at = time.perf_counter()
                        self._out.append(
                            trusted_text_delta(self.message_id, f"{self._id_prefix}{self._seq}", text)
                        )
                    return
                self._on_block_delta(index, block, delta)
            elif kind == "ping":
                return
            elif kind == "content_block_start":
                self._on_block_start(data["index"], data["content_block"])
            elif kind == "content_block_stop":
                self._on_block_stop(data["index"])
            elif kind == "message_start":
                self._on_message_start(data["message"])
            elif kind == "message_delta":
                self._on_message_delta(data)
            elif kind == "message_stop":
                self._on_message_stop()
            elif kind == "error" or event == "error":
                raise map_anthropic_error(None, data, provider=self.provider)
            # any other event type: tolerated and ignored
        except ValidationError as exc:  # a value the canonical model refuses (a usage sum of 2**63)
            raise self._invalid(exc) from None
        except KeyError as exc:
            raise self._malformed(f"{self._event_name(kind)} event lacks the field {exc.args[0]!r}") from None
        except (TypeError, AttributeError) as exc:
            raise self._malformed(
                f"{self._event_name(kind)} event has a field of the wrong shape ({exc})"
            ) from None

    def _on_eof(self) -> None:
        if self._message_stopped:
            return
        if not self._started:
            where = "before message_start"
        elif self._open:
            where = f"inside content block {min(self._open)}"
        else:
            where = "after message_start"
        raise LLMIncompleteStreamError(
            f"{self.provider} messages stream ended {where}, without message_stop", provider=self.provider
        )

    def _on_message_start(self, message: dict[str, Any]) -> None:
        if self._started:
            raise self._malformed("a second message_start")
        self._started = True
        response_id, model = message.get("id"), message.get("model")
        if isinstance(response_id, str):
            self.response_id = response_id
        if isinstance(model, str):
            self.model = model
        self._on_usage(message.get("usage"))

    def _on_block_start(self, index: object, block: dict[str, Any]) -> None:
        self._check_open_message("content_block_start")
        if type(index) is not int:
            raise self._not_an_index("content_block_start index", index)
        if index in self._open or index in self._stopped_blocks:
            raise self._malformed(f"content_block_start for block {index}, which already started")
        block_type = block["type"]
        if block_type == "text":
            self._open[index] = _TEXT
            self._text_delta(self._string(block.get("text"), "text", index))
        elif block_type == "thinking":
            self._open[index] = _THINKING
            self._reasoning_delta(
                index,
                self._string(block.get("thinking"), "thinking", index),
                self._string(block.get("signature"), "signature", index) or None,
            )
        elif block_type == "tool_use":
            self._open[index] = _TOOL
            call = len(self._tool_blocks)
            self._tool_blocks[index] = _ToolBlock(call, block.get("input"))
            tool_id, name = block.get("id"), block.get("name")
            if type(tool_id) is not str or type(name) is not str or not name:
                raise self._malformed(f"tool_use block {index} lacks a string id and name")
            self._tool_delta(call, tool_id, name)
        elif block_type == "redacted_thinking":
            self._open[index] = _IGNORED  # it arrives whole; nothing streams into it
            data = block.get("data")
            self._hidden_reasoning(index, "redacted", data if isinstance(data, str) else None)
        else:
            self._open[index] = _IGNORED

    def _on_block_delta(self, index: int, block: int | None, delta: dict[str, Any]) -> None:
        if block is None:
            self._check_open_message("content_block_delta")
            if index in self._stopped_blocks:
                raise self._malformed(f"content_block_delta for block {index}, which already stopped")
            raise self._malformed(f"content_block_delta for block {index!r}, which never started")
        delta_type = delta["type"]
        if block == _IGNORED or delta_type == "citations_delta":
            return
        if delta_type == "input_json_delta":
            if block != _TOOL:
                raise self._malformed(f"input_json_delta in block {index}, which is not a tool_use block")
            tool = self._tool_blocks[index]
            piece = self._string(delta["partial_json"], "partial_json", index)
            if piece:
                tool.has_arguments = True
                self._tool_delta(tool.call, arguments=piece)
        elif delta_type == "thinking_delta" or delta_type == "signature_delta":
            if block != _THINKING:
                raise self._malformed(f"{delta_type} in block {index}, which is not a thinking block")
            if delta_type == "thinking_delta":
                self._reasoning_delta(index, self._string(delta["thinking"], "thinking", index))
            else:
                self._reasoning_delta(index, signature=self._string(delta["signature"], "signature", index))
        elif delta_type == "text_delta":
            raise self._malformed(f"text_delta in block {index}, which is not a text block")
        # unknown delta types: tolerated and ignored

    def _on_block_stop(self, index: object) -> None:
        self._check_open_message("content_block_stop")
        if type(index) is not int:
            raise self._not_an_index("content_block_stop index", index)
        block = self._open.pop(index, None)
        if block is None:
            state = "already stopped" if index in self._stopped_blocks else "never started"
            raise self._malformed(f"content_block_stop for block {index!r}, which {state}")
        self._stopped_blocks.add(index)
        if block == _TOOL:
            tool = self._tool_blocks[index]
            if not tool.has_arguments:
                # No partial_json came: the input really is the start's placeholder (usually {}).
                placeholder = tool.placeholder if isinstance(tool.placeholder, dict) else {}
                self._tool_delta(tool.call, arguments=orjson.dumps(placeholder).decode())

    def _on_message_delta(self, data: dict[str, Any]) -> None:
        self._check_open_message("message_delta")
        delta = data.get("delta")
        if isinstance(delta, dict):
            reason = delta.get("stop_reason")
            if reason is not None:
                self._on_stop_reason(reason)
        self._on_usage(data.get("usage"))

    def _on_message_stop(self) -> None:
        self._check_open_message("message_stop")
        if self._open:
            raise self._malformed(f"message_stop while content block {min(self._open)} is still open")
        self._message_stopped = True

    def _check_open_message(self, event: str) -> None:
        if not self._started:
            raise self._malformed(f"{event} before message_start")
        if self._message_stopped:
            raise self._malformed(f"{event} after message_stop")

    # -- the non-streamed message ----------------------------------------------------------------

    def _on_json_response(self, body: dict[str, Any]) -> None:
        kind: object = None
        try:
            kind = body["type"]
            if kind == "error":
                raise map_anthropic_error(None, body, provider=self.provider)
            if kind != "message":
                raise self._malformed(f"a response of type {kind!r}, expected 'message'")
            response_id, model = body.get("id"), body.get("model")
            self.response_id = response_id if isinstance(response_id, str) else None
            self.model = model if isinstance(model, str) else None
            for index, block in enumerate(body["content"]):
                self._on_whole_block(index, block)
            reason = body.get("stop_reason")
            if reason is not None:
                self._on_stop_reason(reason)
            self._on_usage(body.get("usage"))
        except ValidationError as exc:
            raise self._invalid(exc) from None
        except KeyError as exc:
            raise self._malformed(
                f"{self._event_name(kind)} response lacks the field {exc.args[0]!r}"
            ) from None
        except (TypeError, AttributeError) as exc:
            raise self._malformed(
                f"{self._event_name(kind)} response has a field of the wrong shape ({exc})"
            ) from None

    def _on_whole_block(self, index: int, block: dict[str, Any]) -> None:
        block_type = block["type"]
        if block_type == "text":
            self._text_delta(self._string(block["text"], "text", index))
        elif block_type == "thinking":
            self._reasoning_delta(
                index,
                self._string(block.get("thinking"), "thinking", index),
                self._string(block.get("signature"), "signature", index) or None,
            )
        elif block_type == "redacted_thinking":
            data = block.get("data")
            self._hidden_reasoning(index, "redacted", data if isinstance(data, str) else None)
        elif block_type == "tool_use":
            tool_id, name, tool_input = block.get("id"), block.get("name"), block.get("input", {})
            if type(tool_id) is not str or type(name) is not str or not name:
                raise self._malformed(f"tool_use block {index} lacks a string id and name")
            self._tool_delta(len(self._tools), tool_id, name, orjson.dumps(tool_input).decode())

    # -- shared ----------------------------------------------------------------------------------

    def _on_stop_reason(self, reason: object) -> None:
        if type(reason) is not str:
            raise self._malformed(f"stop_reason {reason!r} is not a string")
        self._stop(STOP_REASONS.get(reason, "other"), reason)

    def _on_usage(self, usage: object) -> None:
        """Overwrite the counters this usage object reports; derive the canonical totals."""
        if usage is None:
            return
        if not isinstance(usage, dict):
            raise self._malformed(f"usage {usage!r} is not an object")
        counters = self._counters
        for field in _USAGE_FIELDS:
            value = usage.get(field)
            if value is None:
                continue
            if type(value) is not int or not 0 <= value < USAGE_COUNT_LIMIT:
                raise self._malformed(f"usage.{field} {value!r} is not a non-negative integer below 2**63")
            counters[field] = value
        iterations = usage.get("iterations")
        if iterations is not None:
            counters.update(self._iteration_sums(iterations))
        details = usage.get("output_tokens_details")
        if isinstance(details, dict) and details.get("thinking_tokens") is not None:
            thinking = details["thinking_tokens"]
            if type(thinking) is not int or not 0 <= thinking < USAGE_COUNT_LIMIT:
                raise self._malformed(
                    f"usage.output_tokens_details.thinking_tokens {thinking!r} is not a non-negative integer below 2**63"
                )
            self._thinking_tokens = thinking
        input_tokens, cache_read, cache_write, output = (counters[f] for f in _USAGE_FIELDS)
        inputs = [n for n in (input_tokens, cache_read, cache_write) if n is not None]
        prompt = sum(inputs) if inputs else None
        self.usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=output,
            total_tokens=None if prompt is None and output is None else (prompt or 0) + (output or 0),
            cached_input_tokens=cache_read,
            cache_write_tokens=cache_write,
            reasoning_tokens=self._thinking_tokens,
        )

    def _iteration_sums(self, iterations: object) -> dict[str, int | None]:
        """Each counter summed over ``usage.iterations`` (every pass is billed, not only the last)."""
        if not isinstance(iterations, list):
            raise self._malformed(f"usage.iterations {iterations!r:.40} is not a list")
        sums: dict[str, int | None] = dict.fromkeys(_USAGE_FIELDS)
        for number, iteration in enumerate(iterations):
            if not isinstance(iteration, dict):
                raise self._malformed(f"usage.iterations[{number}] {iteration!r:.40} is not an object")
            for field in _USAGE_FIELDS:
                value = iteration.get(field)
                if value is None:
                    continue
                if type(value) is not int or not 0 <= value < USAGE_COUNT_LIMIT:
                    raise self._malformed(
                        f"usage.iterations[{number}].{field} {value!r} is not a non-negative integer below 2**63"
                    )
                sums[field] = (sums[field] or 0) + value
        return {field: value for field, value in sums.items() if value is not None}

    def _string(self, value: object, field: str, index: object) -> str:
        if value is None:
            return ""
        if type(value) is not str:
            raise self._malformed(f"{field} of block {index!r} is not a string: {value!r:.40}")
        return value

    @staticmethod
    def _event_name(kind: object) -> str:
        return kind if isinstance(kind, str) else "an"

    def _malformed(self, problem: str) -> MalformedStreamError:
        return MalformedStreamError(f"{self.provider} messages stream: {problem}", provider=self.provider)


# -- its error table ---------------------------------------------------------------------------------


def map_anthropic_error(
    status: int | None,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    provider: str = "anthropic",
) -> e.LLMError:
    """Anthropic Messages (and compatible endpoints): HTTP errors and ``event: error``."""
    err = error_object(body)
    etype = str(err.get("type") or "")
    message = str(err.get("message") or f"{provider} error")
    if request_id is None and isinstance(body, Mapping) and isinstance(body.get("request_id"), str):
        request_id = body["request_id"]
    cls = class_by_status(_ANTHROPIC_TYPES.get(etype), status)
    if status == 413:
        cls = e.LLMContextWindowExceededError
    return build_error(
        cls,
        message,
        provider=provider,
        status=status,
        request_id=request_id,
        code=etype or None,
        body=body,
        headers=headers,
    )


# -- its client: the anthropic SDK -------------------------------------------------------------------


class AnthropicClient(ProviderClient):
    sdk = "anthropic"
    apis = frozenset({"messages"})

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
        import anthropic

        super().__init__(http_client, transport)
        options = sdk_options(timeout, max_retries)
        self.sdk_client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            http_client=self.http_client,
            **options,
        )
        self._create = self.sdk_client.with_streaming_response.messages.create
        self._parameters = self.keyword_names(self._create)
        if self.sdk_client.api_key is None and self.sdk_client.auth_token is None:
            # the SDK would fail only at the first request, with a TypeError
            raise AdapterConfigError(
                "cannot build the anthropic client: no api_key given and neither ANTHROPIC_API_KEY"
                " nor ANTHROPIC_AUTH_TOKEN is set"
            )

    @asynccontextmanager
    async def _exchange(self, api: str, request_data: Mapping[str, Any]) -> AsyncIterator[httpx2.Response]:
        # ``messages.create`` does more than send (headers from parameters, a timeout for long
        # non-streamed calls), so it is used as is; its raw-response form leaves the body unread.
        async with self._create(**as_keywords(self._parameters, request_data)) as response:
            yield response.http_response


# -- its URL rule ------------------------------------------------------------------------------------


def matches_url(host: str, path: str) -> bool:
    """``.../messages``, on any host (MiniMax and other compatible servers keep the path)."""
    return path.rstrip("/").endswith("/messages")
