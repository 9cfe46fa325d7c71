"""The recorded request in the OpenAI Chat Completions shape, the input LangChain, LiteLLM and
any-llm take for every provider: messages (system, user, assistant with tool calls, tool results),
function tools, and the sampling parameters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def content_text(content: Any) -> str:
    """A message's content as text: a string, or the text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or ""
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
        )
    return ""


def system_content(system: Any) -> Any:
    """Anthropic's ``system``: its text, or, when a block carries ``cache_control``, its text
    blocks with their ``cache_control`` (the libraries pass such parts on to Anthropic)."""
    if isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") for b in system):
        return [
            {"type": "text", "text": block.get("text") or "", **({"cache_control": block["cache_control"]} if block.get("cache_control") else {})}
            for block in system
            if isinstance(block, dict) and block.get("type") == "text"
        ]
    return content_text(system)


def chat_messages(
    api: str, request: Mapping[str, Any], *, anthropic_blocks: bool = False
) -> list[dict[str, Any]]:
    """The conversation of a chat or messages request as OpenAI chat messages.

    ``anthropic_blocks``: for a library that takes Anthropic's own content blocks in an assistant
    message's list content (LangChain's ``ChatAnthropic``, LiteLLM's ``anthropic/`` route), an
    earlier assistant turn keeps its recorded blocks (thinking, server tool use and results, tool
    search results, ...) there, its client tool calls as ``tool_calls``; otherwise its text alone."""
    if api == "chat":
        return [dict(message) for message in request.get("messages") or []]
    messages: list[dict[str, Any]] = []
    if request.get("system"):
        messages.append({"role": "system", "content": system_content(request["system"])})
    for message in request.get("messages") or []:
        content = message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        if message.get("role") == "user":
            for block in blocks:
                if block.get("type") == "tool_result":
                    result = block.get("content")
                    messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": block.get("tool_use_id", ""),
                            # its parts as recorded: Anthropic's text parts are OpenAI's
                            "content": [dict(part) for part in result]
                            if anthropic_blocks and isinstance(result, list)
                            else content_text(result) or json.dumps(result),
                        }
                    )
            text = content_text([block for block in blocks if block.get("type") == "text"])
            if text:
                messages.append({"role": "user", "content": text})
            continue
        entry: dict[str, Any] = {
            "role": "assistant",
            "content": [dict(block) for block in blocks if block.get("type") != "tool_use"]
            if anthropic_blocks and isinstance(content, list)
            else content_text(blocks),
        }
        calls = [
            {
                "id": block.get("id", ""),
                "type": "function",
                "function": {
                    "name": block.get("name", ""),
                    "arguments": json.dumps(block.get("input") or {}),
                },
            }
            for block in blocks
            if block.get("type") == "tool_use"
        ]
        if calls:
            entry["tool_calls"] = calls
        messages.append(entry)
    return messages


def function_tools(
    api: str,
    request: Mapping[str, Any],
    *,
    server_tools: bool = False,
    tool_fields: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """The request's client tools as OpenAI function tools; Anthropic's server tools, which have no
    such form, as recorded when ``server_tools`` (for libraries that pass them on). ``tool_fields``:
    the Anthropic tool fields a library takes at the top of an OpenAI function tool (LiteLLM:
    ``defer_loading``, ``cache_control``, ...)."""
    tools = []
    for tool in request.get("tools") or []:
        if api == "chat":
            if tool.get("type") == "function" or server_tools:
                tools.append(dict(tool))
        elif api == "messages" and tool.get("type") in (None, "custom"):
            function = {"name": tool.get("name", ""), "parameters": tool.get("input_schema") or {}}
            if tool.get("description"):
                function["description"] = tool["description"]
            extra = {key: tool[key] for key in tool_fields if tool.get(key) is not None}
            tools.append({"type": "function", "function": function, **extra})
        elif api == "messages" and server_tools:
            tools.append(dict(tool))  # an Anthropic server tool (web_search_..., ...) as recorded
    return tools


def max_tokens(request: Mapping[str, Any]) -> int | None:
    value = (
        request.get("max_tokens") or request.get("max_completion_tokens") or request.get("max_output_tokens")
    )
    return value if isinstance(value, int) else None


def tool_choice(api: str, request: Mapping[str, Any]) -> Any:
    """The request's tool choice in the OpenAI shape (Anthropic's ``any`` is OpenAI's ``required``)."""
    choice = request.get("tool_choice")
    if api != "messages" or not isinstance(choice, dict):
        return choice
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return {"any": "required", "auto": "auto", "none": "none"}.get(kind or "", "auto")
