"""The oracle's reader of Anthropic Messages: message_start, content blocks with deltas,
message_delta, message_stop."""

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
from .base import (
    sum_present as _sum,
)

_MESSAGES_STOPS = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "context_window",
}


class MessagesReader(SSEReader):
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
        return self.finish()

    def finish(self) -> Expected:
        """The answer once every event is read: a stream without ``message_stop`` is cut."""
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
