"""The expected outcome of one recorded interaction, computed from the recorded bytes alone.

This is the suite's yardstick, so it is deliberately written apart from the reference adapter: it
imports nothing from ``streamproof.adapters.providers``, splits SSE with a regular expression,
parses with the standard library's ``json`` and walks plain dicts. When the reference adapter and
the oracle disagree, one of them is wrong, and the disagreement shows up as a failed check.

The expected outcome (``Expected``) has the fields every adapter must agree on: text, reasoning
text and signatures, client tool calls (id, name, arguments exactly as streamed; a Responses
client-executed ``tool_search_call`` is one too, named ``tool_search``), usage (``None`` =
not reported), the normalized and the provider's own stop reason, and the error class for
responses that fail (an HTTP error status or an error inside the stream).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..harness.cassette import Interaction

USAGE_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

_EVENT_SPLIT = re.compile(r"\r\n\r\n|\n\n|\r\r")
_LINE_SPLIT = re.compile(r"\r\n|\n|\r")

# HTTP status -> error class name of streamproof.adapters.errors
_STATUS_ERRORS = {
    400: "LLMBadRequestError",
    401: "LLMAuthenticationError",
    402: "LLMInsufficientCreditsError",
    403: "LLMPermissionDeniedError",
    404: "LLMNotFoundError",
    408: "LLMTimeoutError",
    413: "LLMContextWindowExceededError",
    422: "LLMUnprocessableEntityError",
    429: "LLMRateLimitError",
    500: "LLMServerError",
    502: "LLMServerError",
    503: "LLMProviderOverloadedError",
    504: "LLMTimeoutError",
    529: "LLMProviderOverloadedError",
}
# words in an error body that name the failure more precisely than the status does
_ERROR_WORDS = {
    "insufficient_quota": "LLMInsufficientCreditsError",
    "billing_error": "LLMInsufficientCreditsError",
    "context_length_exceeded": "LLMContextWindowExceededError",
    "overloaded_error": "LLMProviderOverloadedError",
    "rate_limit_error": "LLMRateLimitError",
    "rate_limit_exceeded": "LLMRateLimitError",
    "authentication_error": "LLMAuthenticationError",
    "invalid_api_key": "LLMAuthenticationError",
    "permission_error": "LLMPermissionDeniedError",
    "not_found_error": "LLMNotFoundError",
    "model_not_found": "LLMNotFoundError",
    "api_error": "LLMServerError",
    "server_error": "LLMServerError",
}
_CONTEXT_WORDS = ("prompt is too long", "context length", "context window", "maximum context length")

_CHAT_STOPS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_MESSAGES_STOPS = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "context_window",
}
_RESPONSES_INCOMPLETE = {"max_output_tokens": "max_tokens", "content_filter": "content_filter"}


@dataclass
class Expected:
    """What a correct adapter must report for one interaction (the oracle's answer)."""

    text: str = ""
    reasoning: str = ""
    signatures: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    usage: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS))
    stop_reason: str | None = None
    provider_stop_reason: str | None = None
    error: str | None = None  # error class name, when the call must fail
    # another copy of a signature -> the signature it stands for (Responses: ``response.completed``
    # re-encrypts each reasoning item, so its copy differs from the item's own done event)
    equivalent_signatures: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Field by field, in a fixed order; an error outcome compares only the error."""
        if self.error is not None:
            return {"error": self.error}
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "signatures": self.signatures,
            "tool_calls": self.tool_calls,
            "usage": self.usage,
            "stop_reason": self.stop_reason,
            "provider_stop_reason": self.provider_stop_reason,
            "error": None,
        }


class _StreamError(Exception):
    """The recorded stream carries an error (or is cut): the oracle's answer is that error class."""

    def __init__(self, error_class: str) -> None:
        super().__init__(error_class)
        self.error_class = error_class


def error_class_for(status: int | None, body: Any) -> str:
    """The error class name a provider error (HTTP status and/or error body) must map to."""
    error = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    words = [str(error.get(key) or "") for key in ("code", "type")]
    message = str(error.get("message") or "").lower()
    if status is None and isinstance(error.get("status_code"), int):
        status = error["status_code"]
    for word in words:
        if word in _ERROR_WORDS:
            return _ERROR_WORDS[word]
    if status is None and words[0].isdigit():
        status = int(words[0])
    if (
        status == 400
        or (status is None and words[1] == "invalid_request_error")
        or words[0] == "tool_use_failed"
    ):
        return (
            "LLMContextWindowExceededError"
            if any(w in message for w in _CONTEXT_WORDS)
            else "LLMBadRequestError"
        )
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    return "LLMServerError" if status is None or status >= 500 else "LLMError"


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event; comments and empty events dropped."""
    text = body.decode("utf-8")
    events: list[tuple[str | None, str]] = []
    blocks = _EVENT_SPLIT.split(text)
    for number, block in enumerate(blocks):
        name: str | None = None
        data: list[str] = []
        for line in _LINE_SPLIT.split(block):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        if data:
            if number == len(blocks) - 1 and not _ends_event(text):
                raise _StreamError("LLMIncompleteStreamError")  # the body stops inside its last event
            events.append((name, "\n".join(data)))
    return events


def _ends_event(text: str) -> bool:
    return text.endswith(("\n\n", "\r\n\r\n", "\r\r"))


def _json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise _StreamError("MalformedStreamError") from None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sum(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


class _ChatReader:
    """OpenAI Chat Completions (and compatible servers): ``data:`` chunks ending with ``[DONE]``."""

    def __init__(self) -> None:
        self.expected = Expected()
        self.tools: dict[int, dict[str, str]] = {}
        self.by_id: dict[str, int] = {}  # tool call id -> its key in tools
        self.done = False
        self.refused = False
        self.streamed = False

    def read(self, events: list[tuple[str | None, str]]) -> Expected:
        for name, data in events:
            if data.strip() == "[DONE]":
                self.done = True
                continue
            chunk = _json(data)
            if name == "error" or (isinstance(chunk, dict) and chunk.get("error")):
                raise _StreamError(error_class_for(None, chunk))
            self.chunk(chunk)
        if not self.done:
            raise _StreamError("LLMIncompleteStreamError")
        if self.expected.provider_stop_reason is None and not self.streamed:
            raise _StreamError("LLMEmptyResponseError")
        self.expected.tool_calls = list(self.tools.values())
        return self.expected

    def chunk(self, chunk: dict[str, Any]) -> None:
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if usage:
            self.usage(usage)
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            self.expected.text += delta.get("content") or ""
            plain = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(plain, str):
                self.expected.reasoning += plain
            for detail in delta.get("reasoning_details") or []:  # OpenRouter repeats the plain text here
                if detail.get("type") != "reasoning.encrypted":
                    if not plain:
                        self.expected.reasoning += detail.get("text") or detail.get("summary") or ""
                    if detail.get("signature"):
                        self.expected.signatures.append(detail["signature"])
            for call in delta.get("tool_calls") or []:
                entry = self.tools.setdefault(self.call_key(call), {"id": "", "name": "", "arguments": ""})
                function = call.get("function") or {}
                entry["id"] = entry["id"] or call.get("id") or ""
                entry["name"] = entry["name"] or function.get("name") or ""
                entry["arguments"] += function.get("arguments") or ""
            self.refused = self.refused or bool(delta.get("refusal"))
            self.streamed = self.streamed or bool(delta.get("content") or plain or delta.get("tool_calls"))
            word = choice.get("finish_reason")
            if word:
                self.expected.provider_stop_reason = word
                self.expected.stop_reason = _CHAT_STOPS.get(word, "other")
                if self.expected.stop_reason == "end_turn" and (self.refused or self.tools):
                    self.expected.stop_reason = "refusal" if self.refused else "tool_calls"

    def call_key(self, call: dict[str, Any]) -> int:
        """Which call a tool-call delta belongs to: its ``index``; without one (Mistral and Gemini's
        compatible endpoints send each call whole), a new id is a new call, and no id the last call."""
        if isinstance(call.get("index"), int):
            key: int = call["index"]
            if call.get("id"):
                self.by_id.setdefault(call["id"], key)
            return key
        if call.get("id"):
            if call["id"] not in self.by_id:
                self.by_id[call["id"]] = max(self.tools, default=-1) + 1
            return self.by_id[call["id"]]
        return max(self.tools, default=0)

    def usage(self, usage: dict[str, Any]) -> None:
        prompt_details = usage.get("prompt_tokens_details") or {}
        cached = _int(prompt_details.get("cached_tokens"))
        self.expected.usage = {
            "prompt_tokens": _int(usage.get("prompt_tokens")),
            "completion_tokens": _int(usage.get("completion_tokens")),
            "total_tokens": _int(usage.get("total_tokens")),
            "cached_input_tokens": _int(usage.get("prompt_cache_hit_tokens")) if cached is None else cached,
            "cache_write_tokens": _int(prompt_details.get("cache_write_tokens")),
            "reasoning_tokens": _int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens")),
        }


class _ResponsesReader:
    """OpenAI Responses: typed events (``event:`` lines optional), ending at completed/incomplete/failed."""

    def __init__(self) -> None:
        self.expected = Expected()
        self.tools: dict[str, dict[str, str]] = {}  # by item id, in order of appearance
        self.signed: dict[int, str] = {}  # output index -> encrypted_content of the item's done event
        self.final_signed: dict[int, str] = {}  # output index -> encrypted_content in response.completed
        self.ended = False

    def read(self, events: list[tuple[str | None, str]]) -> Expected:
        for _name, data in events:
            if data.strip() == "[DONE]":
                continue
            self.event(_json(data))
        if not self.ended:
            raise _StreamError("LLMIncompleteStreamError")
        self.expected.tool_calls = list(self.tools.values())
        positions = sorted(set(self.signed) | set(self.final_signed))
        self.expected.signatures = [self.signed.get(k) or self.final_signed[k] for k in positions]
        self.expected.equivalent_signatures = {
            self.final_signed[k]: self.signed[k]
            for k in positions
            if k in self.signed and k in self.final_signed and self.final_signed[k] != self.signed[k]
        }
        if self.expected.tool_calls and self.expected.stop_reason == "end_turn":
            self.expected.stop_reason = "tool_calls"
        return self.expected

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            self.expected.text += event.get("delta") or ""
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self.expected.reasoning += event.get("delta") or ""
        elif kind == "response.refusal.delta":
            self.expected.stop_reason = "refusal"
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item") or {}
            if kind.endswith(".done"):
                self.sign(item, event.get("output_index") or 0)
            if item.get("type") == "function_call":
                entry = self.tools.setdefault(item.get("id") or "", {"id": "", "name": "", "arguments": ""})
                entry["id"] = entry["id"] or item.get("call_id") or ""
                entry["name"] = entry["name"] or item.get("name") or ""
                if kind.endswith(".done") and isinstance(item.get("arguments"), str):
                    entry["arguments"] = item["arguments"]
            elif item.get("type") == "tool_search_call" and item.get("execution") == "client":
                # the application runs this search: a client tool call named ``tool_search`` whose
                # arguments (an object, never streamed as deltas) are the done item's, as compact JSON
                entry = self.tools.setdefault(item.get("id") or "", {"id": "", "name": "tool_search", "arguments": ""})
                entry["id"] = entry["id"] or item.get("call_id") or ""
                if kind.endswith(".done") and isinstance(item.get("arguments"), dict):
                    entry["arguments"] = json.dumps(item["arguments"], separators=(",", ":"), ensure_ascii=False)
        elif kind == "response.function_call_arguments.delta":
            entry = self.tools.setdefault(event.get("item_id") or "", {"id": "", "name": "", "arguments": ""})
            entry["arguments"] += event.get("delta") or ""
        elif kind in ("response.completed", "response.incomplete"):
            self.end(event.get("response") or {})
        elif kind in ("response.failed", "error"):
            response = event.get("response") or {}
            raise _StreamError(error_class_for(None, (response.get("error") and response) or event))

    def sign(self, item: dict[str, Any], position: int, into: dict[int, str] | None = None) -> None:
        """A finished reasoning item's encrypted_content signs its block (the first one counts).

        The rule: the signature is the copy of the item's own ``response.output_item.done`` (what a
        streaming consumer has when the item ends); ``response.completed`` lists the same reasoning
        encrypted again (a new token each time, so the bytes differ on real streams): that copy is
        the signature only for an item whose done never came, and elsewhere it is accepted as the
        same signature (``equivalent_signatures``)."""
        if item.get("type") == "reasoning" and item.get("encrypted_content"):
            (self.signed if into is None else into).setdefault(position, item["encrypted_content"])

    def end(self, response: dict[str, Any]) -> None:
        self.ended = True
        for position, item in enumerate(response.get("output") or []):
            self.sign(item, position, self.final_signed)
        status = response.get("status")
        reason = (response.get("incomplete_details") or {}).get("reason")
        refused = self.expected.stop_reason == "refusal"
        if status == "incomplete" and reason:
            self.expected.provider_stop_reason = reason
            self.expected.stop_reason = _RESPONSES_INCOMPLETE.get(reason, "other")
        else:
            self.expected.provider_stop_reason = status
            self.expected.stop_reason = "end_turn"
        if refused:
            self.expected.stop_reason = "refusal"
        usage = response.get("usage") or {}
        if usage:
            input_details = usage.get("input_tokens_details") or {}
            self.expected.usage = {
                "prompt_tokens": _int(usage.get("input_tokens")),
                "completion_tokens": _int(usage.get("output_tokens")),
                "total_tokens": _int(usage.get("total_tokens")),
                "cached_input_tokens": _int(input_details.get("cached_tokens")),
                "cache_write_tokens": _int(input_details.get("cache_write_tokens")),
                "reasoning_tokens": _int((usage.get("output_tokens_details") or {}).get("reasoning_tokens")),
            }


class _MessagesReader:
    """Anthropic Messages: message_start, content blocks with deltas, message_delta, message_stop."""

    def __init__(self) -> None:
        self.expected = Expected()
        self.blocks: dict[int, dict[str, Any]] = {}
        self.tools: list[dict[str, str]] = []
        self.usage: dict[str, Any] = {}
        self.stopped = False

    def read(self, events: list[tuple[str | None, str]]) -> Expected:
        for _name, data in events:
            self.event(_json(data))
        if not self.stopped:
            raise _StreamError("LLMIncompleteStreamError")
        self.expected.tool_calls = self.tools
        counters = self.billed()
        read, write = counters["cache_read_input_tokens"], counters["cache_creation_input_tokens"]
        prompt = _sum(counters["input_tokens"], read, write)
        completion = counters["output_tokens"]
        self.expected.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": _sum(prompt, completion),
            "cached_input_tokens": read,
            "cache_write_tokens": write,
            # newer models only: the reasoning count; None (not 0) where it is not reported
            "reasoning_tokens": _int((self.usage.get("output_tokens_details") or {}).get("thinking_tokens")),
        }
        return self.expected

    def billed(self) -> dict[str, int | None]:
        """The four counters; with ``usage.iterations``, each one's sum over every iteration (what is
        billed: the top-level counters leave out compaction and advisor passes)."""
        names = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")
        counters = {name: _int(self.usage.get(name)) for name in names}
        iterations = self.usage.get("iterations")
        if isinstance(iterations, list):
            for name in names:
                summed = _sum(*(_int(i.get(name)) for i in iterations if isinstance(i, dict)))
                if summed is not None:
                    counters[name] = summed
        return counters

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self.usage.update((event.get("message") or {}).get("usage") or {})
        elif kind == "content_block_start":
            block = dict(event.get("content_block") or {})
            self.blocks[event.get("index", 0)] = block
            if block.get("type") == "tool_use":
                block["parts"] = []
                block["call"] = {
                    "id": block.get("id") or "",
                    "name": block.get("name") or "",
                    "arguments": "",
                }
                self.tools.append(block["call"])
        elif kind == "content_block_delta":
            self.delta(self.blocks.get(event.get("index", 0)), event.get("delta") or {})
        elif kind == "content_block_stop":
            block = self.blocks.get(event.get("index", 0)) or {}
            if block.get("type") == "tool_use":
                block["call"]["arguments"] = "".join(block["parts"]) or json.dumps(
                    block.get("input") or {}, separators=(",", ":")
                )
        elif kind == "message_delta":
            word = (event.get("delta") or {}).get("stop_reason")
            if word:
                self.expected.provider_stop_reason = word
                self.expected.stop_reason = _MESSAGES_STOPS.get(word, "other")
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            raise _StreamError(error_class_for(None, event))

    def delta(self, block: dict[str, Any] | None, delta: dict[str, Any]) -> None:
        if block is None:
            raise _StreamError("MalformedStreamError")
        kind = delta.get("type")
        if kind == "text_delta":
            self.expected.text += delta.get("text") or ""
        elif kind == "thinking_delta":
            self.expected.reasoning += delta.get("thinking") or ""
        elif kind == "signature_delta" and delta.get("signature"):
            self.expected.signatures.append(delta["signature"])
        elif kind == "input_json_delta" and block.get("type") == "tool_use":
            block["parts"].append(delta.get("partial_json") or "")


_READERS: dict[str, type[_ChatReader | _ResponsesReader | _MessagesReader]] = {
    "chat": _ChatReader,
    "responses": _ResponsesReader,
    "messages": _MessagesReader,
}


def expected_outcome(interaction: Interaction) -> Expected:
    """The oracle's answer for one recorded chat / responses / messages interaction."""
    response = interaction.response
    return expected_for(interaction.api, response.status, response.body)


def expected_for(api: str, status: int, body: bytes) -> Expected:
    """The oracle's answer for a response of ``api`` with this status and (decoded) body."""
    if status >= 400:
        try:
            error_body: Any = json.loads(body)
        except ValueError:
            error_body = {}
        return Expected(error=error_class_for(status, error_body))
    reader = _READERS[api]()
    try:
        return reader.read(sse_events(body))
    except _StreamError as failure:
        return Expected(error=failure.error_class)
