"""The oracle's reader of OpenAI Responses: typed events, ending at completed / incomplete / failed."""

from __future__ import annotations

import json
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

_RESPONSES_INCOMPLETE = {"max_output_tokens": "max_tokens", "content_filter": "content_filter"}


class ResponsesReader(SSEReader):
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
                entry = self.tools.setdefault(
                    item.get("id") or "", {"id": "", "name": "tool_search", "arguments": ""}
                )
                entry["id"] = entry["id"] or item.get("call_id") or ""
                if kind.endswith(".done") and isinstance(item.get("arguments"), dict):
                    entry["arguments"] = json.dumps(
                        item["arguments"], separators=(",", ":"), ensure_ascii=False
                    )
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
