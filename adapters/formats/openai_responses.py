"""OpenAI Responses streams (and Responses-compatible endpoints: OpenRouter, DeepSeek).

Wire format: one JSON event per SSE event, typed by its ``type`` field; OpenAI repeats the type in an
``event:`` line, OpenRouter sends none and ends with ``data: [DONE]``. What real streams vary
(REAL-STREAMS.md §3.11, §3.12, §3.15), and how it is read here:

- No event is required first: background streams begin with ``response.queued`` and resumed ones
  (``starting_after``) at sequence 1, without ``response.created``.
- Text: ``response.output_text.delta``; refusals: ``response.refusal.delta``; reasoning: summary
  text deltas and ``response.reasoning_text.delta``, one reasoning block per output item, signed
  with the item's ``encrypted_content`` once the item is done. ``response.completed`` lists each
  item encrypted again (a different token for the same reasoning): the done event's copy is the
  signature; the final copy signs only an item whose done never came.
- Client tool calls are ``function_call`` items and client-executed tool search (a
  ``tool_search_call`` with ``"execution": "client"``: the application runs the search), not
  web_search, file_search, MCP, code interpreter or server-side tool search items. The item's
  ``call_id`` is the tool call id; ``output_item.added`` gives id and name, argument deltas follow.
  A client tool search has no name and no argument deltas: it is one delta when its item is done,
  named ``tool_search``, its arguments the item's ``arguments`` object as compact JSON. Items whose ``done`` never comes are taken as they stand when
  the response ends; ``function_call`` items that only the final response lists are added then.
- The stream ends with ``response.completed`` / ``response.incomplete`` (stop reason
  ``incomplete_details.reason``) or fails with ``response.failed`` / ``error`` (raised as the
  mapped ``LLMError``). Without one of them the stream is incomplete, ``[DONE]`` or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import LLMIncompleteStreamError, MalformedStreamError
from ..events import Usage
from ..framing.sse import SSEEvent
from .base import StreamingInterface
from .openai_chat import OpenAIClient, map_openai_error, optional_str  # one server, one SDK, one error table

INCOMPLETE_REASONS = {"max_output_tokens": "max_tokens", "content_filter": "content_filter"}
INDEX_FIELDS = ("output_index", "content_index", "summary_index")
TOOL_SEARCH = "tool_search"  # the name of a client-executed tool search call (its item has none)


def is_client_call(item: dict[str, Any]) -> bool:
    """A ``function_call`` item, or a ``tool_search_call`` the client executes (it has a ``call_id``)."""
    kind = item.get("type")
    return kind == "function_call" or (kind == "tool_search_call" and item.get("execution") == "client")


def call_name_and_arguments(item: dict[str, Any]) -> tuple[str | None, str]:
    """A client call item's name and its arguments as JSON text (a tool search's are an object)."""
    if item.get("type") == "tool_search_call":
        arguments = item.get("arguments")
        if not isinstance(arguments, dict):
            return TOOL_SEARCH, ""
        return TOOL_SEARCH, json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
    return item.get("name"), item.get("arguments") or ""


def responses_usage(raw: dict[str, Any]) -> Usage:
    """A Responses ``usage`` object: input tokens include cached ones. Newer recordings also report
    ``input_tokens_details.cache_write_tokens`` (input written to the prompt cache)."""
    input_details = raw.get("input_tokens_details") or {}
    output_details = raw.get("output_tokens_details") or {}
    return Usage(
        prompt_tokens=raw.get("input_tokens"),
        completion_tokens=raw.get("output_tokens"),
        total_tokens=raw.get("total_tokens"),
        cached_input_tokens=input_details.get("cached_tokens"),
        cache_write_tokens=input_details.get("cache_write_tokens"),
        reasoning_tokens=output_details.get("reasoning_tokens"),
    )


class OpenAIResponsesInterface(StreamingInterface):
    provider = "openai"
    api = "responses"

    def __init__(self, **switches: Any) -> None:
        super().__init__(**switches)
        self._ended = False  # a terminal event (completed / incomplete) was read
        self._call_by_item: dict[str, int] = {}  # function_call item id (or "@output_index") -> tool index
        self._calls_with_argument_deltas: set[int] = set()
        self._signed_blocks: set[int] = set()  # reasoning blocks whose encrypted_content was taken

    # -- streaming -------------------------------------------------------------------------------

    def _on_sse(self, sse: SSEEvent, tail: bool = False) -> None:
        name, data, _ = sse
        if self._ended or data == "[DONE]":
            return  # OpenRouter's [DONE] closes a stream whose end was already read
        event = self._loads(data, tail)
        try:
            kind: str = event.get("type") or name or ""
            if kind == "response.output_text.delta":  # by far the most frequent: no table lookup
                if (
                    type(event.get("output_index", 0)) is not int
                    or type(event.get("content_index", 0)) is not int
                ):
                    self._check_indices(kind, event)
                self._text_delta(event["delta"])
                return
            handler = _HANDLERS.get(kind)
            if handler is not None:
                self._check_indices(kind, event)
                handler(self, event)
        except ValidationError as exc:  # a value the canonical model refuses (a usage count of 2**64)
            raise self._invalid(exc) from None
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise MalformedStreamError(
                f"{self.provider} responses stream: unexpected event shape ({type(exc).__name__}: {exc}): {data[:80]!r}",
                provider=self.provider,
            ) from None

    def _check_indices(self, kind: str, event: dict[str, Any]) -> None:
        """Every index an event carries is an int (or absent); events that are ignored go unread."""
        for field in INDEX_FIELDS:
            value = event.get(field)
            if value is not None and type(value) is not int:
                raise self._not_an_index(f"{kind} {field}", value)

    def _on_eof(self) -> None:
        if not self._ended:
            raise LLMIncompleteStreamError(
                f"{self.provider} responses stream ended without response.completed, response.incomplete "
                "or response.failed",
                provider=self.provider,
            )

    def _on_snapshot(self, event: dict[str, Any]) -> None:
        self._identify(event["response"])

    def _on_item_added(self, event: dict[str, Any]) -> None:
        item = event["item"]
        if item.get("type") == "function_call":  # a tool search comes whole when its item is done
            self._tool_delta(
                self._call_index(item.get("id"), event.get("output_index")),
                item.get("call_id"),
                item.get("name"),
            )

    def _on_item_done(self, event: dict[str, Any]) -> None:
        item = event["item"]
        if is_client_call(item):
            self._take_whole_call(item, event.get("output_index"))
        elif item.get("type") == "reasoning":
            self._take_signature(item, event.get("output_index"))

    def _on_arguments_delta(self, event: dict[str, Any]) -> None:
        index = self._call_index(event.get("item_id"), event.get("output_index"))
        self._calls_with_argument_deltas.add(index)
        self._tool_delta(index, arguments=event["delta"])

    def _on_reasoning(self, event: dict[str, Any]) -> None:
        self._reasoning_delta(event.get("output_index") or 0, event["delta"])

    def _on_refusal(self, event: dict[str, Any]) -> None:
        self._refusal_delta(event["delta"])

    def _on_end(self, event: dict[str, Any]) -> None:
        response = event["response"]
        for position, item in enumerate(response.get("output") or ()):
            if is_client_call(item):
                self._take_whole_call(item, position)
            elif item.get("type") == "reasoning":
                self._take_signature(item, position)
        self._end(response)

    def _on_failed(self, event: dict[str, Any]) -> None:
        response = event.get("response") or {}
        self._identify(response)
        error = response.get("error") or {"message": "response.failed without an error object"}
        raise map_openai_error(None, {"error": error}, provider=self.provider)

    def _on_error(self, event: dict[str, Any]) -> None:
        raise map_openai_error(None, event, provider=self.provider)

    # -- shared by streams and non-streamed responses --------------------------------------------

    def _identify(self, response: dict[str, Any]) -> None:
        self.response_id = optional_str(response.get("id"), "response.id") or self.response_id
        self.model = optional_str(response.get("model"), "response.model") or self.model

    def _call_index(self, item_id: str | None, output_index: int | None) -> int:
        key = item_id or f"@{output_index}"
        index = self._call_by_item.get(key)
        if index is None:
            index = self._call_by_item[key] = len(self._call_by_item)
        return index

    def _take_whole_call(self, item: dict[str, Any], output_index: int | None) -> None:
        """A complete client call item: fills in what the deltas did not already give."""
        index = self._call_index(item.get("id"), output_index)
        name, whole_arguments = call_name_and_arguments(item)
        arguments = "" if index in self._calls_with_argument_deltas else whole_arguments
        known = self._tools.get(index)
        if known is not None and known.id and known.name and not arguments:
            return  # nothing new: no event
        if arguments:
            self._calls_with_argument_deltas.add(index)
        self._tool_delta(index, item.get("call_id"), name, arguments)

    def _take_signature(self, item: dict[str, Any], output_index: int | None) -> None:
        """A finished reasoning item's ``encrypted_content`` (what a later request sends back) signs its block."""
        block = output_index or 0
        encrypted = item.get("encrypted_content")
        if encrypted and block not in self._signed_blocks:
            self._signed_blocks.add(block)
            self._reasoning_delta(block, signature=encrypted)

    def _end(self, response: dict[str, Any]) -> None:
        self._identify(response)
        self._ended = True
        if response.get("usage"):
            self.usage = responses_usage(response["usage"])
        status = response.get("status")
        if status == "incomplete":
            word = (response.get("incomplete_details") or {}).get("reason") or "incomplete"
            reason = INCOMPLETE_REASONS.get(word, "other")
        elif status == "completed":
            word = "completed"
            reason = "tool_calls" if self._tools else ("refusal" if self._refusal is not None else "end_turn")
        else:
            return  # queued / in_progress: a snapshot of an unfinished response has no stop reason
        self._stop(reason, word)

    def _on_json_response(self, body: dict[str, Any]) -> None:
        try:
            if body.get("status") == "failed" or (body.get("error") and not body.get("output")):
                raise map_openai_error(None, {"error": body.get("error") or {}}, provider=self.provider)
            for position, item in enumerate(body.get("output") or ()):
                kind = item.get("type")
                if kind == "message":
                    for part in item.get("content") or ():
                        if part.get("type") == "output_text":
                            self._text_delta(part.get("text") or "")
                        elif part.get("type") == "refusal":
                            self._refusal_delta(part.get("refusal") or "")
                elif kind == "reasoning":
                    for part in (item.get("summary") or []) + (item.get("content") or []):
                        self._reasoning_delta(position, part.get("text") or "")
                    self._take_signature(item, position)
                elif is_client_call(item):
                    self._take_whole_call(item, position)
            self._end(body)
        except ValidationError as exc:
            raise self._invalid(exc) from None
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise MalformedStreamError(
                f"{self.provider} responses response: unexpected JSON shape ({type(exc).__name__}: {exc})",
                provider=self.provider,
            ) from None


_Handler = Callable[[OpenAIResponsesInterface, dict[str, Any]], None]

_HANDLERS: dict[str, _Handler] = {
    "response.created": OpenAIResponsesInterface._on_snapshot,
    "response.queued": OpenAIResponsesInterface._on_snapshot,
    "response.in_progress": OpenAIResponsesInterface._on_snapshot,
    "response.output_item.added": OpenAIResponsesInterface._on_item_added,
    "response.output_item.done": OpenAIResponsesInterface._on_item_done,
    "response.function_call_arguments.delta": OpenAIResponsesInterface._on_arguments_delta,
    "response.reasoning_summary_text.delta": OpenAIResponsesInterface._on_reasoning,
    "response.reasoning_text.delta": OpenAIResponsesInterface._on_reasoning,
    "response.refusal.delta": OpenAIResponsesInterface._on_refusal,
    "response.completed": OpenAIResponsesInterface._on_end,
    "response.incomplete": OpenAIResponsesInterface._on_end,
    "response.failed": OpenAIResponsesInterface._on_failed,
    "error": OpenAIResponsesInterface._on_error,
}


# -- its URL rule and its requests (its client and error table are Chat's) ----------------------------


def matches_url(host: str, path: str) -> bool:
    """``.../responses``, or ``.../responses/resp_...`` (a stored response fetched again)."""
    parts = path.rstrip("/").split("/")
    return parts[-1] == "responses" or (
        len(parts) >= 2 and parts[-2] == "responses" and parts[-1].startswith("resp")
    )


def takes_request(request_data: Mapping[str, Any]) -> bool:
    """``input`` without ``messages`` is a Responses call."""
    return "input" in request_data and "messages" not in request_data


__all__ = ["OpenAIClient", "OpenAIResponsesInterface", "map_openai_error"]
