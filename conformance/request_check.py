"""The request check's comparison: what the adapter sent against what was recorded, field by field.

A library turns the recorded request into its own input and back into a request, so the bytes
differ for reasons that do not matter. Both sides are first put in one canonical shape:

- tools by name, each as ``{description, parameters}`` whatever the wire format (Chat nests them
  under ``function``, Responses does not, Anthropic calls the schema ``input_schema``); the schema
  canonicalized as JSON Schema: ``required`` as a set (sorted), nulls dropped, defaults that say
  nothing (``additionalProperties: true``, ``required: []``) dropped; ``strict`` is a request
  option, not part of the schema, and is left out;
- messages (Chat / Anthropic ``messages``, Responses ``input``) as a list of items: role, and
  content as a list of typed parts (a plain string is one text part); Responses items without a
  ``type`` are ``message`` items; reasoning and compaction history items are compared whole;
  tool-call arguments as parsed JSON;
- an Anthropic ``tool_result`` without ``is_error`` as one with ``is_error: false`` (the API's
  default);
- the system prompt (Chat: a ``system`` / ``developer`` message; Responses ``instructions``;
  Anthropic ``system``) as text parts;
- max tokens (``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens``), ``tool_choice``
  (a bare word is ``{"type": word}``; ``auto`` is the default), the reasoning settings
  (``reasoning_effort``, ``reasoning``, ``thinking``), the stream flag, the model and the usage
  request.

Then every field the recording has must be there with the same value (a difference); a field only
the adapter sent (``type: custom`` on an Anthropic tool, ``cache_control`` on a part, a setting the
recording lacks) is a warning, not a failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from .formats import format_name

_NO_DEFAULT = object()
# JSON Schema keys whose value, when it is this, says nothing
_SCHEMA_DEFAULTS: dict[str, Any] = {"additionalProperties": True, "required": [], "strict": _NO_DEFAULT}
_REASONING_KEYS = ("reasoning_effort", "reasoning", "thinking")


@dataclass
class RequestComparison:
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)  # path, recorded, sent
    warnings: list[str] = field(default_factory=list)


def canonical_schema(schema: Any) -> Any:
    """A JSON Schema with ``required`` sorted, nulls and empty defaults dropped, ``strict`` left out."""
    if isinstance(schema, list):
        return [canonical_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if value is None or key == "strict":
            continue
        if key in _SCHEMA_DEFAULTS and _SCHEMA_DEFAULTS[key] == value:
            continue
        if key == "required" and isinstance(value, list):
            out[key] = sorted(value, key=str)
        elif key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {name: canonical_schema(sub) for name, sub in value.items()}
        else:
            out[key] = canonical_schema(value)
    return out


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _parts(content: Any, text_type: str) -> Any:
    """Message content as typed parts: a string is one text part."""
    if isinstance(content, str):
        return [{"type": text_type, "text": content}]
    return _drop_nulls(content)


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return {"type": choice}
    return _drop_nulls(choice)


class RequestFormat:
    """How one wire format lays out the fields of a request; ``canonical`` puts them in one shape.

    The default is the OpenAI style: tools carry their schema as ``parameters``, messages are
    ``messages``, the model and the stream flag are fields of the body."""

    schema_key = "parameters"  # where a tool's JSON Schema is
    varying: tuple[str, ...] = ()  # fields that must be sent, whose value may differ (a warning)
    nested_function = False  # a tool is ``{"type": "function", "function": {...}}`` (Chat)
    max_tokens_keys: tuple[str, ...] = ("max_tokens",)

    def tools(self, tools: Any) -> dict[str, Any] | None:
        if not isinstance(tools, list):
            return None
        out: dict[str, Any] = {}
        for number, tool in enumerate(tools):
            if not isinstance(tool, dict):
                out[f"#{number}"] = tool
                continue
            function = tool.get("function")
            spec: dict[str, Any] = function if self.nested_function and isinstance(function, dict) else tool
            name = str(spec.get("name") or f"#{number}")
            schema = spec.get(self.schema_key)
            canonical = {
                k: v for k, v in spec.items() if k not in ("name", "parameters", "input_schema", "strict")
            }
            if self.nested_function and spec is not tool:
                canonical.update({k: v for k, v in tool.items() if k not in ("function", "type")})
            elif tool.get("type") == "function":
                canonical.pop("type", None)  # the ordinary kind of tool, said or not
            canonical = _drop_nulls(canonical)
            if schema is not None:
                canonical["parameters"] = canonical_schema(schema)
            out[name] = canonical
        return out

    def system(self, request: dict[str, Any]) -> Any:
        """The system prompt given apart from the messages, as parts (a list, as a rule)."""
        return []

    def raw_items(self, request: dict[str, Any]) -> list[Any]:
        return list(request.get("messages") or [])

    def item(self, item: dict[str, Any], items: list[Any], system: Any) -> dict[str, Any] | None:
        """One message, canonical (nulls dropped already); None when it was the system prompt."""
        if "content" in item:
            item = {**item, "content": _parts(item["content"], "text")}
        if isinstance(item.get("tool_calls"), list):
            calls = []
            for call in item["tool_calls"]:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and "arguments" in function:
                    call = {
                        **call,
                        "function": {**function, "arguments": _arguments(function["arguments"])},
                    }
                calls.append(call)
            item = {**item, "tool_calls": calls}
        return item

    def messages(self, request: dict[str, Any]) -> tuple[Any, list[Any]]:
        """(system parts, the other messages/items), canonical."""
        system = self.system(request)
        items: list[Any] = []
        for item in self.raw_items(request):
            if not isinstance(item, dict):
                items.append(item)
                continue
            canonical = self.item(_drop_nulls(item), items, system)
            if canonical is not None:
                items.append(canonical)
        return system, items

    def max_tokens(self, request: dict[str, Any]) -> Any:
        for key in self.max_tokens_keys:
            if request.get(key) is not None:
                return request[key]
        return None

    def canonical(self, request: dict[str, Any], url: str | None = None) -> dict[str, Any]:
        """The fields of a request that matter, in one shape for every wire format (``url``: where
        it was sent, for a format that says part of the request there)."""
        system, messages = self.messages(request)
        out: dict[str, Any] = {
            "stream": request.get("stream"),
            "model": request.get("model"),
            "tools": self.tools(request.get("tools")),
            "system": system or None,
            "messages": messages,
            "max_tokens": self.max_tokens(request),
            "tool_choice": _tool_choice(request.get("tool_choice")),
        }
        for key in _REASONING_KEYS:
            if request.get(key) is not None:
                out[key] = _drop_nulls(request[key])
        if (request.get("stream_options") or {}).get("include_usage") is not None:
            out["stream_options.include_usage"] = request["stream_options"]["include_usage"]
        return out


class ChatRequest(RequestFormat):
    """OpenAI Chat: tools nest under ``function``; a leading system / developer message is the
    system prompt; ``max_completion_tokens`` is the newer name of ``max_tokens``."""

    nested_function = True
    max_tokens_keys = ("max_tokens", "max_completion_tokens")

    def item(self, item: dict[str, Any], items: list[Any], system: Any) -> dict[str, Any] | None:
        if item.get("role") in ("system", "developer") and not items:
            system.extend(_parts(item.get("content"), "text"))
            return None
        return super().item(item, items, system)


class ResponsesRequest(RequestFormat):
    """OpenAI Responses: ``instructions`` and ``input`` (a string or typed items; one without a
    ``type`` is a ``message``), ``max_output_tokens``."""

    max_tokens_keys = ("max_output_tokens",)

    def system(self, request: dict[str, Any]) -> Any:
        instructions = request.get("instructions")
        return _parts(instructions, "input_text") if instructions else []

    def raw_items(self, request: dict[str, Any]) -> list[Any]:
        raw = request.get("input")
        return [{"role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])

    def item(self, item: dict[str, Any], items: list[Any], system: Any) -> dict[str, Any] | None:
        if "type" not in item and "role" in item:
            item = {"type": "message", **item}
        if item.get("type") == "message":
            text_type = "output_text" if item.get("role") == "assistant" else "input_text"
            item = {**item, "content": _parts(item.get("content"), text_type)}
        if item.get("type") == "function_call" and "arguments" in item:
            item = {**item, "arguments": _arguments(item["arguments"])}
        return item


class MessagesRequest(RequestFormat):
    """Anthropic Messages: ``system`` apart, tools with an ``input_schema``."""

    schema_key = "input_schema"

    def system(self, request: dict[str, Any]) -> Any:
        return _parts(request["system"], "text") if request.get("system") else []

    def item(self, item: dict[str, Any], items: list[Any], system: Any) -> dict[str, Any] | None:
        """A ``tool_result`` says ``is_error``: left out, it is the API's default, false."""
        canonical = super().item(item, items, system)
        if canonical is not None and isinstance(canonical.get("content"), list):
            canonical["content"] = [
                {"is_error": False, **part} if isinstance(part, dict) and part.get("type") == "tool_result" else part
                for part in canonical["content"]
            ]
        return canonical


class BedrockRequest(MessagesRequest):
    """Anthropic Messages on Bedrock: the body has no ``model`` and no ``stream`` (the URL's path
    ``/model/<id>/invoke-with-response-stream`` says both, the id URL-encoded) and names its
    ``anthropic_version`` (required; its value varies with the SDK, so another value is a warning)."""

    _PATH = re.compile(r"/model/(?P<model>[^/]+)/(?P<action>invoke|invoke-with-response-stream)/?$")
    varying = ("anthropic_version",)

    def canonical(self, request: dict[str, Any], url: str | None = None) -> dict[str, Any]:
        out = super().canonical(request, url)
        found = self._PATH.search(urlsplit(url).path) if url else None
        out["model"] = unquote(found["model"]) if found else None
        out["stream"] = found["action"] == "invoke-with-response-stream" if found else None
        out["anthropic_version"] = request.get("anthropic_version")
        return out


REQUEST_FORMATS: dict[str, RequestFormat] = {
    "openai_chat": ChatRequest(),
    "openai_responses": ResponsesRequest(),
    "anthropic_messages": MessagesRequest(),
    "bedrock_messages": BedrockRequest(),
}


def request_format(name: str) -> RequestFormat:
    """The request layout of the format ``name`` (or of the api word ``chat``, ``messages``, ...)."""
    return REQUEST_FORMATS[name] if name in REQUEST_FORMATS else REQUEST_FORMATS[format_name(name)]


def canonical_request(name: str, request: dict[str, Any], url: str | None = None) -> dict[str, Any]:
    """The fields of a request that matter, in one shape for every wire format (``name``: the
    format, or its api word)."""
    return request_format(name).canonical(request, url)


def compare_requests(
    name: str,
    recorded: dict[str, Any],
    sent: dict[str, Any],
    *,
    recorded_url: str | None = None,
    sent_url: str | None = None,
) -> RequestComparison:
    """Every field of the recorded request the adapter sent differently, and what it added."""
    wanted, actual = canonical_request(name, recorded, recorded_url), canonical_request(name, sent, sent_url)
    comparison = RequestComparison()
    for key in request_format(name).varying:
        if wanted.get(key) is not None and actual.get(key) is not None and actual[key] != wanted[key]:
            comparison.warnings.append(
                f"request.{key}: {_show(actual[key])}, the recording has {_show(wanted[key])}"
            )
            actual[key] = wanted[key]
    if wanted["tool_choice"] is None and actual["tool_choice"] == {"type": "auto"}:
        actual["tool_choice"] = None  # the default, said out loud
    _compare(wanted, actual, "request", comparison)
    return comparison


def _compare(recorded: Any, sent: Any, path: str, into: RequestComparison) -> None:
    if isinstance(recorded, dict) and isinstance(sent, dict):
        for key, value in recorded.items():
            if value is None:
                if sent.get(key) is not None:
                    into.warnings.append(
                        f"{path}.{key}: the recording has none, the adapter sent {_show(sent[key])}"
                    )
                continue
            if key not in sent or sent[key] is None:
                into.differences.append((f"{path}.{key}", value, None))
                continue
            _compare(value, sent[key], f"{path}.{key}", into)
        for key in sent:
            if key not in recorded and sent[key] is not None:
                into.warnings.append(f"{path}.{key}: added by the adapter ({_show(sent[key])})")
        return
    if isinstance(recorded, list) and isinstance(sent, list):
        if len(recorded) != len(sent):
            into.differences.append((f"{path} (count)", len(recorded), len(sent)))
            return
        for number, (a, b) in enumerate(zip(recorded, sent, strict=True)):
            _compare(a, b, f"{path}[{number}]", into)
        return
    if recorded != sent:
        into.differences.append((path, recorded, sent))


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
