"""The oracle's reader of OpenAI Chat Completions (and compatible servers' streams): ``data:`` chunks
ending with ``[DONE]``."""

from __future__ import annotations

from typing import Any

from .base import (
    Expected,
    SSEReader,
    error_class_for,
)
from .base import (
    StreamError as _StreamError,
)
from .base import (
    int_or_none as _int,
)
from .base import (
    json_data as _json,
)

_CHAT_STOPS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class ChatReader(SSEReader):
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
