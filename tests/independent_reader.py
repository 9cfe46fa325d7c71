"""A deliberately simple reader of recorded responses, sharing no code with ``streamproof.adapters``.

It reads a whole body at once: normalise line ends, split on blank lines with a regex, ``json.loads``
(the standard library), and walk dicts. It exists to cross-check the reference interfaces, so it
favours the plainest reading of each format over speed or incremental parsing. Where a format
repeats information, it reads the other copy than the interfaces do when it can (Responses tool
calls come from the final ``response.completed`` output, not from the argument deltas).

``read(api, status, content_type, body)`` returns a plain dict:
``text``, ``reasoning``, ``tool_calls`` (list of ``(name, parsed arguments)``), ``usage`` (the six
contract fields), ``provider_stop_reason``, and ``error`` (``None`` or ``{"status", "code"}``).
"""

from __future__ import annotations

import json
import re
from typing import Any

BLANK_LINE = re.compile(r"\n\s*\n")


def sse_events(body: str) -> list[tuple[str | None, str]]:
    """(event name, data) for each SSE event; comments and empty events dropped."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    events = []
    for block in BLANK_LINE.split(body):
        name, data = None, []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def empty_usage() -> dict[str, int | None]:
    return dict.fromkeys(
        (
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        )
    )


def new_outcome() -> dict[str, Any]:
    return {
        "text": "",
        "reasoning": "",
        "tool_calls": [],
        "usage": empty_usage(),
        "provider_stop_reason": None,
        "error": None,
    }


def parse_arguments(text: str) -> Any:
    return json.loads(text) if text else {}


# -- OpenAI Chat Completions ----------------------------------------------------------------------


def chat_usage(raw: dict[str, Any]) -> dict[str, int | None]:
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = raw.get("prompt_cache_hit_tokens")
    return {
        "prompt_tokens": raw.get("prompt_tokens"),
        "completion_tokens": raw.get("completion_tokens"),
        "total_tokens": raw.get("total_tokens"),
        "cached_input_tokens": cached,
        "cache_write_tokens": prompt_details.get("cache_write_tokens"),
        "reasoning_tokens": completion_details.get("reasoning_tokens"),
    }


def chat_reasoning(message: dict[str, Any]) -> str:
    plain = message.get("reasoning_content") or message.get("reasoning")
    if plain:
        return str(plain)
    details = message.get("reasoning_details") or []
    return "".join(
        d.get("text") or d.get("summary") or "" for d in details if d.get("type") != "reasoning.encrypted"
    )


def read_chat_stream(body: str) -> dict[str, Any]:
    out = new_outcome()
    calls: dict[int, dict[str, str]] = {}
    for name, data in sse_events(body):
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if name == "error" or chunk.get("error"):
            err = chunk["error"]
            status = err.get("status_code") or (
                int(err["code"]) if str(err.get("code", "")).isdigit() else None
            )
            out["error"] = {"status": status, "code": err.get("code")}
            return out
        if chunk.get("usage"):
            out["usage"] = chat_usage(chunk["usage"])
        elif (chunk.get("x_groq") or {}).get("usage"):
            out["usage"] = chat_usage(chunk["x_groq"]["usage"])
        if not chunk.get("choices"):
            continue
        choice = chunk["choices"][0]
        delta = choice.get("delta") or {}
        out["text"] += delta.get("content") or ""
        out["reasoning"] += chat_reasoning(delta)
        for call in delta.get("tool_calls") or []:
            entry = calls.setdefault(call["index"], {"name": "", "arguments": ""})
            function = call.get("function") or {}
            entry["name"] = entry["name"] or function.get("name") or ""
            entry["arguments"] += function.get("arguments") or ""
        if choice.get("finish_reason") and out["provider_stop_reason"] is None:
            out["provider_stop_reason"] = choice["finish_reason"]
    out["tool_calls"] = [(c["name"], parse_arguments(c["arguments"])) for c in calls.values()]
    return out


def read_chat_json(body: dict[str, Any]) -> dict[str, Any]:
    out = new_outcome()
    choice = body["choices"][0]
    message = choice["message"]
    out["text"] = message.get("content") or ""
    out["reasoning"] = chat_reasoning(message)
    out["tool_calls"] = [
        (c["function"]["name"], parse_arguments(c["function"]["arguments"]))
        for c in message.get("tool_calls") or []
    ]
    out["provider_stop_reason"] = choice.get("finish_reason")
    if body.get("usage"):
        out["usage"] = chat_usage(body["usage"])
    return out


# -- OpenAI Responses -----------------------------------------------------------------------------


def responses_final(out: dict[str, Any], response: dict[str, Any]) -> None:
    """Tool calls, usage and stop reason from a complete response object."""
    out["tool_calls"] = [
        (item["name"], parse_arguments(item.get("arguments") or ""))
        if item.get("type") == "function_call"
        else ("tool_search", item.get("arguments") or {})  # a client-executed tool search: the app runs it
        for item in response.get("output") or []
        if item.get("type") == "function_call"
        or (item.get("type") == "tool_search_call" and item.get("execution") == "client")
    ]
    usage = response.get("usage")
    if usage:
        out["usage"] = {
            "prompt_tokens": usage.get("input_tokens"),
            "completion_tokens": usage.get("output_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "cached_input_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens"),
            "cache_write_tokens": (usage.get("input_tokens_details") or {}).get("cache_write_tokens"),
            "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens"),
        }
    if response.get("status") == "incomplete":
        out["provider_stop_reason"] = (response.get("incomplete_details") or {}).get("reason") or "incomplete"
    elif response.get("status") == "completed":
        out["provider_stop_reason"] = "completed"


def read_responses_stream(body: str) -> dict[str, Any]:
    out = new_outcome()
    for _name, data in sse_events(body):
        if data == "[DONE]":
            continue
        event = json.loads(data)
        kind = event.get("type")
        if kind == "response.output_text.delta":
            out["text"] += event["delta"]
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            out["reasoning"] += event["delta"]
        elif kind in ("response.completed", "response.incomplete"):
            responses_final(out, event["response"])
        elif kind in ("response.failed", "error"):
            err = (event.get("response") or {}).get("error") or event
            out["error"] = {"status": None, "code": err.get("code")}
            return out
    return out


def read_responses_json(body: dict[str, Any]) -> dict[str, Any]:
    out = new_outcome()
    for item in body.get("output") or []:
        if item.get("type") == "message":
            out["text"] += "".join(
                p.get("text", "") for p in item["content"] if p.get("type") == "output_text"
            )
        elif item.get("type") == "reasoning":
            out["reasoning"] += "".join(
                p.get("text", "") for p in (item.get("summary") or []) + (item.get("content") or [])
            )
    responses_final(out, body)
    return out


# -- Anthropic Messages ---------------------------------------------------------------------------

ANTHROPIC_COUNTERS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
)


def thinking_tokens(usage: dict[str, Any]) -> dict[str, int]:
    """The reasoning count newer Anthropic models send, as a pseudo-counter (absent on older ones)."""
    details = usage.get("output_tokens_details") or {}
    found = details.get("thinking_tokens")
    return {} if found is None else {"thinking_tokens": found}


def iteration_totals(usage: dict[str, Any]) -> dict[str, int]:
    """With per-iteration usage, what is billed: every counter added up over all iterations."""
    totals: dict[str, int] = {}
    for iteration in usage.get("iterations") or []:
        for key in ANTHROPIC_COUNTERS:
            if iteration.get(key) is not None:
                totals[key] = totals.get(key, 0) + iteration[key]
    return totals


def anthropic_usage(counters: dict[str, int | None]) -> dict[str, int | None]:
    inputs = [counters.get(k) for k in ANTHROPIC_COUNTERS[:3] if counters.get(k) is not None]
    prompt = sum(v for v in inputs if v is not None) if inputs else None
    output = counters.get("output_tokens")
    usage = empty_usage()
    usage.update(
        prompt_tokens=prompt,
        completion_tokens=output,
        total_tokens=None if prompt is None and output is None else (prompt or 0) + (output or 0),
        cached_input_tokens=counters.get("cache_read_input_tokens"),
        cache_write_tokens=counters.get("cache_creation_input_tokens"),
        reasoning_tokens=counters.get("thinking_tokens"),
    )
    return usage


def read_messages_stream(body: str) -> dict[str, Any]:
    out = new_outcome()
    counters: dict[str, int | None] = {}
    calls: dict[int, dict[str, Any]] = {}
    for _name, data in sse_events(body):
        event = json.loads(data)
        kind = event.get("type")
        if kind == "error":
            out["error"] = {"status": None, "code": event["error"].get("type")}
            return out
        if kind == "message_start":
            counters.update(
                {
                    k: v
                    for k, v in (event["message"].get("usage") or {}).items()
                    if k in ANTHROPIC_COUNTERS and v is not None
                }
            )
            counters.update(thinking_tokens(event["message"].get("usage") or {}))
            counters.update(iteration_totals(event["message"].get("usage") or {}))
        elif kind == "content_block_start" and event["content_block"].get("type") == "tool_use":
            block = event["content_block"]
            calls[event["index"]] = {"name": block["name"], "json": "", "input": block.get("input") or {}}
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta.get("type") == "text_delta":
                out["text"] += delta["text"]
            elif delta.get("type") == "thinking_delta":
                out["reasoning"] += delta["thinking"]
            elif delta.get("type") == "input_json_delta" and event["index"] in calls:
                calls[event["index"]]["json"] += delta["partial_json"]
        elif kind == "message_delta":
            counters.update(
                {
                    k: v
                    for k, v in (event.get("usage") or {}).items()
                    if k in ANTHROPIC_COUNTERS and v is not None
                }
            )
            counters.update(thinking_tokens(event.get("usage") or {}))
            counters.update(iteration_totals(event.get("usage") or {}))
            out["provider_stop_reason"] = (event.get("delta") or {}).get("stop_reason")
    out["usage"] = anthropic_usage(counters)
    out["tool_calls"] = [
        (c["name"], json.loads(c["json"]) if c["json"] else c["input"]) for c in calls.values()
    ]
    return out


def read_messages_json(body: dict[str, Any]) -> dict[str, Any]:
    out = new_outcome()
    for block in body.get("content") or []:
        if block.get("type") == "text":
            out["text"] += block["text"]
        elif block.get("type") == "thinking":
            out["reasoning"] += block.get("thinking") or ""
        elif block.get("type") == "tool_use":
            out["tool_calls"].append((block["name"], block.get("input") or {}))
    counters = {
        k: v for k, v in (body.get("usage") or {}).items() if k in ANTHROPIC_COUNTERS and v is not None
    }
    counters.update(thinking_tokens(body.get("usage") or {}))
    counters.update(iteration_totals(body.get("usage") or {}))
    out["usage"] = anthropic_usage(counters)
    out["provider_stop_reason"] = body.get("stop_reason")
    return out


# -- entry point ----------------------------------------------------------------------------------

STREAM_READERS = {
    "chat": read_chat_stream,
    "responses": read_responses_stream,
    "messages": read_messages_stream,
}
JSON_READERS = {"chat": read_chat_json, "responses": read_responses_json, "messages": read_messages_json}


def read(api: str, status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """What a response says, read the simple way. ``api`` is chat, responses or messages."""
    if status >= 400:
        out = new_outcome()
        try:
            err = json.loads(body).get("error") or {}
        except ValueError:
            err = {}
        out["error"] = {
            "status": status,
            "code": err.get("code") or err.get("type") if isinstance(err, dict) else None,
        }
        return out
    if content_type.split(";")[0].strip().lower() == "text/event-stream":
        return STREAM_READERS[api](body.decode("utf-8"))
    return JSON_READERS[api](json.loads(body))
